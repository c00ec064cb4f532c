package dev.tinymoat.demo.core;

/** The settings of one benchmark run, checked before anything is loaded. */
public final class BenchmarkConfig {
    public static final int MAX_THREADS = 64;
    public static final int MAX_RUNS = 100_000;
    public static final int MAX_WARMUP = 10_000;

    private final Delegate delegate;
    private final int threads;
    private final int runs;
    private final int warmup;

    public BenchmarkConfig(Delegate delegate, int threads, int runs, int warmup) {
        if (delegate == null) {
            throw new IllegalArgumentException("delegate is required");
        }
        check("threads", threads, 1, MAX_THREADS);
        check("runs", runs, 1, MAX_RUNS);
        check("warm-up", warmup, 0, MAX_WARMUP);
        this.delegate = delegate;
        this.threads = threads;
        this.runs = runs;
        this.warmup = warmup;
    }

    /** From the benchmark screen's text fields; the message of the exception is shown to the user. */
    public static BenchmarkConfig parse(String delegate, String threads, String runs, String warmup) {
        return new BenchmarkConfig(Delegate.fromId(delegate),
                parseInt("threads", threads), parseInt("runs", runs), parseInt("warm-up", warmup));
    }

    public Delegate delegate() {
        return delegate;
    }

    public int threads() {
        return threads;
    }

    public int runs() {
        return runs;
    }

    public int warmup() {
        return warmup;
    }

    private static int parseInt(String what, String text) {
        try {
            return Integer.parseInt(text == null ? "" : text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " must be a whole number, got '" + text + "'");
        }
    }

    private static void check(String what, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(what + " must be between " + min + " and " + max + ", got " + value);
        }
    }

    @Override
    public String toString() {
        return delegate.id() + ", " + threads + " threads, " + warmup + " warm-up, " + runs + " runs";
    }
}
