package dev.tinymoat.demo.core;

import java.util.Arrays;

/**
 * Summary of latency samples in milliseconds, with the definitions of
 * {@code export/latency/stats.py} reproduced operation for operation, so the app's
 * numbers equal {@code tinymoat-bench}'s for the same samples bit for bit:
 * <ul>
 * <li>mean: the samples summed left to right in input order, divided by n;</li>
 * <li>stdev: the sample standard deviation, {@code sqrt(sum((x - mean)^2) / (n - 1))}
 *     summed left to right; 0.0 for a single sample;</li>
 * <li>median, p90, p99: {@code np.percentile}'s default linear interpolation between
 *     the closest ranks (see {@link #percentileOfSorted}).</li>
 * </ul>
 */
public final class LatencyStats {
    private final int count;
    private final double mean;
    private final double median;
    private final double p90;
    private final double p99;
    private final double min;
    private final double max;
    private final double stdev;

    private LatencyStats(double[] samples) {
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        this.count = n;
        this.mean = mean(samples);
        this.median = percentileOfSorted(sorted, 50);
        this.p90 = percentileOfSorted(sorted, 90);
        this.p99 = percentileOfSorted(sorted, 99);
        this.min = sorted[0];
        this.max = sorted[n - 1];
        this.stdev = n == 1 ? 0.0 : Math.sqrt(sumOfSquaredDeviations(samples, mean) / (n - 1));
    }

    /** Statistics of at least one finite sample (in milliseconds). */
    public static LatencyStats of(double[] samplesMs) {
        if (samplesMs == null || samplesMs.length == 0) {
            throw new IllegalArgumentException("latency statistics need at least one sample");
        }
        for (double s : samplesMs) {
            if (Double.isNaN(s) || Double.isInfinite(s)) {
                throw new IllegalArgumentException("latency samples must be finite, got " + s);
            }
        }
        return new LatencyStats(samplesMs);
    }

    /**
     * {@code np.percentile(sorted, q)} with the default linear method: position
     * {@code v = (n - 1) * (q / 100)}, {@code i = floor(v)}, {@code j = min(i + 1, n - 1)},
     * {@code t = v - i}, {@code d = s[j] - s[i]}; the result is {@code s[i] + d * t} when
     * {@code t < 0.5}, else {@code s[j] - d * (1 - t)} (NumPy's two branches).
     */
    public static double percentileOfSorted(double[] sorted, double q) {
        if (sorted.length == 0 || !(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile needs samples and q in [0, 100], got q=" + q);
        }
        int n = sorted.length;
        double position = (n - 1) * (q / 100.0);
        int i = Math.min(Math.max((int) Math.floor(position), 0), n - 1);
        int j = Math.min(i + 1, n - 1);
        double t = position - i;
        double d = sorted[j] - sorted[i];
        return t < 0.5 ? sorted[i] + d * t : sorted[j] - d * (1.0 - t);
    }

    private static double mean(double[] samples) {
        double total = 0.0;
        for (double v : samples) {
            total += v;
        }
        return total / samples.length;
    }

    private static double sumOfSquaredDeviations(double[] samples, double mean) {
        double total = 0.0;
        for (double v : samples) {
            total += (v - mean) * (v - mean);
        }
        return total;
    }

    public int count() {
        return count;
    }

    public double mean() {
        return mean;
    }

    public double median() {
        return median;
    }

    public double p90() {
        return p90;
    }

    public double p99() {
        return p99;
    }

    public double min() {
        return min;
    }

    public double max() {
        return max;
    }

    public double stdev() {
        return stdev;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT,
                "n=%d mean=%.3f median=%.3f p90=%.3f p99=%.3f min=%.3f max=%.3f stdev=%.3f ms",
                count, mean, median, p90, p99, min, max, stdev);
    }
}
