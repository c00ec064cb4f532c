package dev.tinymoat.demo.core;

import java.util.Arrays;

/**
 * Summary of latency samples in milliseconds, computed the way NumPy does so that
 * the app's numbers equal {@code tinymoat-bench}'s for the same samples:
 * {@code np.mean} (pairwise summation), {@code np.median}, {@code np.percentile}
 * with its default linear interpolation, and {@code np.std(ddof=1)} (sample standard
 * deviation; 0.0 for a single sample).
 */
public final class LatencyStats {
    /** NumPy's pairwise-summation block size (PW_BLOCKSIZE). */
    private static final int BLOCK = 128;

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
        this.mean = pairwiseSum(samples, 0, n) / n;
        this.median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
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
     * {@code np.percentile(sorted, q)} with the default "linear" method: position
     * {@code (n - 1) * q / 100} between the closest ranks, interpolated with NumPy's
     * {@code _lerp} (which computes from the upper neighbour when the weight is at
     * least 0.5).
     */
    public static double percentileOfSorted(double[] sorted, double q) {
        if (sorted.length == 0 || !(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile needs samples and q in [0, 100], got q=" + q);
        }
        int n = sorted.length;
        double position = (n - 1) * (q / 100.0);
        double below = Math.floor(position);
        int lo = (int) below;
        int hi = Math.min(lo + 1, n - 1);
        double t = position - below;
        double a = sorted[lo];
        double b = sorted[hi];
        double diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /** NumPy's pairwise summation of {@code values[from, from + n)}. */
    static double pairwiseSum(double[] values, int from, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += values[from + i];
            }
            return res;
        }
        if (n <= BLOCK) {
            double[] r = new double[8];
            for (int j = 0; j < 8; j++) {
                r[j] = values[from + j];
            }
            int i = 8;
            for (; i < n - (n % 8); i += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += values[from + i + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                res += values[from + i];
            }
            return res;
        }
        int half = n / 2;
        half -= half % 8;
        return pairwiseSum(values, from, half) + pairwiseSum(values, from + half, n - half);
    }

    private static double sumOfSquaredDeviations(double[] samples, double mean) {
        double[] squares = new double[samples.length];
        for (int i = 0; i < samples.length; i++) {
            double d = samples[i] - mean;
            squares[i] = d * d;
        }
        return pairwiseSum(squares, 0, squares.length);
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
