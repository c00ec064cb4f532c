package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import org.junit.Test;

public class PeakMemoryTest {
    @Test
    public void readsVmHwmInMebibytes() {
        String status = "Name:\tdev.tinymoat.demo\nVmPeak:\t 5123456 kB\nVmHWM:\t  121344 kB\nVmRSS:\t  100000 kB\n";
        assertEquals(118.5, PeakMemory.fromProcStatus(status), 0);
    }

    @Test
    public void missingOrOddLinesGiveNull() {
        assertNull(PeakMemory.fromProcStatus(null));
        assertNull(PeakMemory.fromProcStatus("Name:\tx\nVmRSS:\t 1 kB\n"));
        assertNull(PeakMemory.fromProcStatus("VmHWM:\t 12 MB\n"));
        assertNull(PeakMemory.fromProcStatus("VmHWM:\t lots kB\n"));
    }
}
