package dev.tinymoat.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The classification screen's delegate and thread count. */
public final class InferenceSettings {
    /** LiteRT's own default on phones: enough for the big cores, not the little ones. */
    public static final int PREFERRED_THREADS = 4;

    private final Delegate delegate;
    private final int threads;

    public InferenceSettings(Delegate delegate, int threads) {
        if (delegate == null) {
            throw new IllegalArgumentException("delegate is required");
        }
        if (threads < 1 || threads > BenchmarkConfig.MAX_THREADS) {
            throw new IllegalArgumentException("threads must be between 1 and " + BenchmarkConfig.MAX_THREADS
                    + ", got " + threads);
        }
        this.delegate = delegate;
        this.threads = threads;
    }

    /** XNNPACK with {@link #defaultThreads}: what the app starts with. */
    public static InferenceSettings defaults(int processors) {
        return new InferenceSettings(Delegate.XNNPACK, defaultThreads(processors));
    }

    public static int defaultThreads(int processors) {
        return Math.max(1, Math.min(PREFERRED_THREADS, processors));
    }

    /**
     * Thread counts to offer for {@code processors} cores
     * ({@code Runtime.availableProcessors()}): powers of two below it, and it.
     */
    public static List<Integer> threadChoices(int processors) {
        int n = Math.max(1, Math.min(BenchmarkConfig.MAX_THREADS, processors));
        List<Integer> out = new ArrayList<>();
        for (int t = 1; t < n; t *= 2) {
            out.add(t);
        }
        out.add(n);
        return Collections.unmodifiableList(out);
    }

    public Delegate delegate() {
        return delegate;
    }

    /** CPU threads; the GPU delegate ignores them, NNAPI uses them for ops it leaves to the CPU. */
    public int threads() {
        return threads;
    }

    public InferenceSettings withDelegate(Delegate d) {
        return new InferenceSettings(d, threads);
    }

    public InferenceSettings withThreads(int t) {
        return new InferenceSettings(delegate, t);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InferenceSettings && ((InferenceSettings) o).delegate == delegate
                && ((InferenceSettings) o).threads == threads;
    }

    @Override
    public int hashCode() {
        return delegate.hashCode() * 31 + threads;
    }

    @Override
    public String toString() {
        return delegate.id() + ", " + threads + (threads == 1 ? " thread" : " threads");
    }
}
