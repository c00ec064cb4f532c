package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import org.junit.Test;

public class LatencyStatsTest {
    @Test
    public void oneToTenMatchesNumpy() {
        // np.mean, np.median, np.percentile(x, [90, 99]), np.std(x, ddof=1) of 1..10.
        LatencyStats s = LatencyStats.of(new double[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        assertEquals(10, s.count());
        assertEquals(5.5, s.mean(), 0);
        assertEquals(5.5, s.median(), 0);
        assertEquals(9.1, s.p90(), 0);
        assertEquals(9.91, s.p99(), 0);
        assertEquals(1.0, s.min(), 0);
        assertEquals(10.0, s.max(), 0);
        assertEquals(3.0276503540974917, s.stdev(), 0);
    }

    @Test
    public void orderOfSamplesDoesNotMatterForRankStatistics() {
        LatencyStats s = LatencyStats.of(new double[] {10, 3, 7, 1, 9, 2, 8, 4, 6, 5});
        assertEquals(5.5, s.median(), 0);
        assertEquals(9.1, s.p90(), 0);
        assertEquals(1.0, s.min(), 0);
        assertEquals(10.0, s.max(), 0);
    }

    @Test
    public void singleSampleHasZeroStdev() {
        LatencyStats s = LatencyStats.of(new double[] {4.25});
        assertEquals(4.25, s.mean(), 0);
        assertEquals(4.25, s.median(), 0);
        assertEquals(4.25, s.p90(), 0);
        assertEquals(4.25, s.p99(), 0);
        assertEquals(0.0, s.stdev(), 0);
    }

    @Test
    public void oddCountMedianIsTheMiddleSample() {
        LatencyStats s = LatencyStats.of(new double[] {3, 1, 2});
        assertEquals(2.0, s.median(), 0);
        assertEquals(1.0, s.stdev(), 0);
    }

    @Test
    public void percentileInterpolatesBetweenClosestRanks() {
        double[] sorted = {10, 20};
        assertEquals(10.0, LatencyStats.percentileOfSorted(sorted, 0), 0);
        assertEquals(12.5, LatencyStats.percentileOfSorted(sorted, 25), 0);
        assertEquals(15.0, LatencyStats.percentileOfSorted(sorted, 50), 0);
        assertEquals(19.0, LatencyStats.percentileOfSorted(sorted, 90), 0);
        assertEquals(20.0, LatencyStats.percentileOfSorted(sorted, 100), 0);
        // n = 5: p90 at position 3.6 between 40 and 50.
        assertEquals(46.0, LatencyStats.percentileOfSorted(new double[] {10, 20, 30, 40, 50}, 90), 1e-12);
    }

    @Test
    public void meanSumsLeftToRightInInputOrderLikeStatsPy() {
        // export/latency/stats.py sums in input order: 0.1 two hundred times gives
        // 20.000000000000014 (NumPy's pairwise np.sum would give 20.0), so the mean is
        // 20.000000000000014 / 200, not 0.1.
        double[] tenths = new double[200];
        Arrays.fill(tenths, 0.1);
        assertEquals(20.000000000000014 / 200, LatencyStats.of(tenths).mean(), 0);
        assertEquals(0.10000000000000007, LatencyStats.of(tenths).mean(), 0);
        // Order matters for floating-point sums: 1e16 + 1 + -1e16 is 0, -1e16 + 1e16 + 1 is 1.
        assertEquals(0.0, LatencyStats.of(new double[] {1e16, 1, -1e16}).mean(), 0);
        assertEquals(1.0 / 3, LatencyStats.of(new double[] {-1e16, 1e16, 1}).mean(), 0);
    }

    @Test
    public void medianUsesThePercentileInterpolation() {
        // np.percentile(x, 50) is 8.8 here; np.median's (a + b) / 2 would give 8.799999999999999.
        double[] s = {15.87, 1.73};
        assertEquals(8.8, LatencyStats.of(s).median(), 0);
    }

    @Test
    public void rejectsEmptyAndNonFiniteSamples() {
        assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[0]));
        assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[] {1, Double.NaN}));
        assertThrows(IllegalArgumentException.class,
                () -> LatencyStats.percentileOfSorted(new double[] {1}, 101));
    }
}
