package dev.tinymoat.demo.core;

/**
 * The benchmark's timing loop, with the clock injected so tests can drive it.
 *
 * <p>The first call after initialisation is timed on its own ({@code first_inference_ms}:
 * it includes lazy allocation and delegate preparation). Warm-up calls, the first one
 * among them, are not recorded; then {@code runs} calls are timed one by one. Last,
 * the same loop times a no-op {@link Runnable} {@code runs} times: its mean is the
 * harness overhead that each sample carries ({@code harness_overhead_ms}).
 */
public final class TimingLoop {
    /** A monotonic clock in nanoseconds, {@code System::nanoTime} on a device. */
    public interface Clock {
        long nanoTime();
    }

    public static final Clock SYSTEM_CLOCK = System::nanoTime;

    private static final Runnable NO_OP = () -> { };

    private final Clock clock;

    public TimingLoop(Clock clock) {
        this.clock = clock;
    }

    /** Milliseconds that one call of {@code task} takes. */
    public double timeMs(Runnable task) {
        long start = clock.nanoTime();
        task.run();
        long end = clock.nanoTime();
        return (end - start) / 1e6;
    }

    public Timings run(Runnable inference, int warmup, int runs) {
        if (warmup < 0 || runs < 1) {
            throw new IllegalArgumentException("need warmup >= 0 and runs >= 1, got " + warmup + ", " + runs);
        }
        double first = timeMs(inference);
        double[] samples = new double[runs];
        int start = 0;
        if (warmup == 0) {
            samples[0] = first;   // no warm-up: the first call is also the first sample
            start = 1;
        } else {
            for (int i = 1; i < warmup; i++) {
                inference.run();
            }
        }
        timeEach(inference, samples, start);
        double[] overhead = new double[runs];
        timeEach(NO_OP, overhead, 0);
        return new Timings(first, samples, LatencyStats.of(overhead).mean());
    }

    private void timeEach(Runnable task, double[] into, int from) {
        for (int i = from; i < into.length; i++) {
            into[i] = timeMs(task);
        }
    }

    /** What one benchmark run measured, all in milliseconds. */
    public static final class Timings {
        private final double firstInferenceMs;
        private final double[] samplesMs;
        private final double harnessOverheadMs;

        public Timings(double firstInferenceMs, double[] samplesMs, double harnessOverheadMs) {
            this.firstInferenceMs = firstInferenceMs;
            this.samplesMs = samplesMs.clone();
            this.harnessOverheadMs = harnessOverheadMs;
        }

        public double firstInferenceMs() {
            return firstInferenceMs;
        }

        public double[] samplesMs() {
            return samplesMs.clone();
        }

        public double harnessOverheadMs() {
            return harnessOverheadMs;
        }

        public LatencyStats stats() {
            return LatencyStats.of(samplesMs);
        }
    }
}
