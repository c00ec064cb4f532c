package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class TimingLoopTest {
    /** A clock that advances by a fixed step per reading, plus whatever a task adds. */
    private static final class FakeClock implements TimingLoop.Clock {
        long now;
        final long step;

        FakeClock(long step) {
            this.step = step;
        }

        @Override
        public long nanoTime() {
            now += step;
            return now;
        }
    }

    /** An "inference" whose i-th call takes durations[i] ns on the fake clock. */
    private static final class ScriptedTask implements Runnable {
        final FakeClock clock;
        final long[] durations;
        int calls;

        ScriptedTask(FakeClock clock, long... durations) {
            this.clock = clock;
            this.durations = durations;
        }

        @Override
        public void run() {
            clock.now += durations[calls++];
        }
    }

    @Test
    public void firstCallWarmUpAndRunsAreTimedSeparately() {
        FakeClock clock = new FakeClock(1_000);   // each clock reading costs 1 us
        ScriptedTask task = new ScriptedTask(clock,
                50_000_000, 9_000_000, 9_000_000,          // first call + 2 more warm-up calls
                2_000_000, 3_000_000, 4_000_000);          // 3 timed runs
        TimingLoop.Timings t = new TimingLoop(clock).run(task, 3, 3);
        assertEquals(6, task.calls);
        assertEquals(50.001, t.firstInferenceMs(), 1e-9);
        assertArrayEquals(new double[] {2.001, 3.001, 4.001}, t.samplesMs(), 1e-9);
        // The no-op loop sees only the clock's own cost.
        assertEquals(0.001, t.harnessOverheadMs(), 1e-12);
        assertEquals(3.001, t.stats().median(), 1e-9);
    }

    @Test
    public void withoutWarmUpTheFirstCallIsAlsoTheFirstSample() {
        FakeClock clock = new FakeClock(0);
        ScriptedTask task = new ScriptedTask(clock, 7_000_000, 1_000_000);
        TimingLoop.Timings t = new TimingLoop(clock).run(task, 0, 2);
        assertEquals(2, task.calls);
        assertEquals(7.0, t.firstInferenceMs(), 0);
        assertArrayEquals(new double[] {7.0, 1.0}, t.samplesMs(), 0);
        assertEquals(0.0, t.harnessOverheadMs(), 0);
    }

    @Test
    public void oneWarmUpCallIsTheFirstCall() {
        FakeClock clock = new FakeClock(0);
        ScriptedTask task = new ScriptedTask(clock, 5_000_000, 1_000_000);
        TimingLoop.Timings t = new TimingLoop(clock).run(task, 1, 1);
        assertEquals(2, task.calls);
        assertArrayEquals(new double[] {1.0}, t.samplesMs(), 0);
    }

    @Test
    public void timeMsMeasuresOneCall() {
        FakeClock clock = new FakeClock(500);
        assertEquals(0.0025, new TimingLoop(clock).timeMs(() -> clock.now += 2_000), 1e-12);
    }

    @Test
    public void rejectsBadCounts() {
        TimingLoop loop = new TimingLoop(TimingLoop.SYSTEM_CLOCK);
        assertThrows(IllegalArgumentException.class, () -> loop.run(() -> { }, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> loop.run(() -> { }, 0, 0));
    }
}
