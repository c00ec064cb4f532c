package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class BenchmarkConfigTest {
    @Test
    public void parsesTheScreensFields() {
        BenchmarkConfig c = BenchmarkConfig.parse("XNNPACK", " 4 ", "100", "10");
        assertEquals(Delegate.XNNPACK, c.delegate());
        assertEquals(4, c.threads());
        assertEquals(100, c.runs());
        assertEquals(10, c.warmup());
        assertEquals("xnnpack, 4 threads, 10 warm-up, 100 runs", c.toString());
    }

    @Test
    public void delegateIdsAreTheSchemaValues() {
        assertEquals("cpu", Delegate.CPU.id());
        assertEquals("xnnpack", Delegate.XNNPACK.id());
        assertEquals("gpu", Delegate.GPU.id());
        assertEquals("nnapi", Delegate.NNAPI.id());
        for (Delegate d : Delegate.values()) {
            assertEquals(d, Delegate.fromId(d.id()));
        }
        assertThrows(IllegalArgumentException.class, () -> Delegate.fromId("tpu"));
    }

    @Test
    public void errorsNameTheField() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BenchmarkConfig.parse("cpu", "four", "100", "10"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("threads must be a whole number"));
        e = assertThrows(IllegalArgumentException.class, () -> BenchmarkConfig.parse("cpu", "1", "0", "10"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("runs must be between 1 and"));
        e = assertThrows(IllegalArgumentException.class, () -> BenchmarkConfig.parse("cpu", "1", "5", "-1"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("warm-up must be between 0 and"));
        assertThrows(IllegalArgumentException.class, () -> BenchmarkConfig.parse("cpu", "65", "5", "0"));
        assertThrows(IllegalArgumentException.class, () -> new BenchmarkConfig(null, 1, 1, 0));
    }

    @Test
    public void zeroWarmUpIsAllowed() {
        assertEquals(0, BenchmarkConfig.parse("gpu", "1", "1", "0").warmup());
    }
}
