package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import org.junit.Test;

public class InferenceSettingsTest {
    @Test
    public void threadChoicesArePowersOfTwoAndTheCoreCount() {
        assertEquals(Arrays.asList(1, 2, 4, 8), InferenceSettings.threadChoices(8));
        assertEquals(Arrays.asList(1, 2, 4, 6), InferenceSettings.threadChoices(6));
        assertEquals(Arrays.asList(1), InferenceSettings.threadChoices(1));
        assertEquals(Arrays.asList(1), InferenceSettings.threadChoices(0));
        assertEquals(Arrays.asList(1, 2, 4, 8, 16, 32, 64), InferenceSettings.threadChoices(500));
    }

    @Test
    public void defaultsAreXnnpackWithUpToFourThreads() {
        assertEquals(new InferenceSettings(Delegate.XNNPACK, 4), InferenceSettings.defaults(8));
        assertEquals(new InferenceSettings(Delegate.XNNPACK, 2), InferenceSettings.defaults(2));
        assertEquals("xnnpack, 1 thread", InferenceSettings.defaults(1).toString());
    }

    @Test
    public void changesMakeNewSettings() {
        InferenceSettings s = InferenceSettings.defaults(8);
        assertEquals(Delegate.GPU, s.withDelegate(Delegate.GPU).delegate());
        assertEquals(4, s.withDelegate(Delegate.GPU).threads());
        assertEquals(2, s.withThreads(2).threads());
        assertNotEquals(s, s.withThreads(2));
        assertEquals("xnnpack, 4 threads", s.toString());
    }

    @Test
    public void invalidSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new InferenceSettings(null, 4));
        assertThrows(IllegalArgumentException.class, () -> new InferenceSettings(Delegate.CPU, 0));
        assertThrows(IllegalArgumentException.class,
                () -> new InferenceSettings(Delegate.CPU, BenchmarkConfig.MAX_THREADS + 1));
    }
}
