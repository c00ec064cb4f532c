package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class DelegateFallbackTest {
    private static final DelegateFallback.DeviceSupport MODERN = new DelegateFallback.DeviceSupport(35, true);

    /** An opener that fails for the given delegates and records what it was asked for. */
    private static final class FakeOpener implements DelegateFallback.Opener<String> {
        final List<Delegate> asked = new ArrayList<>();
        final List<Delegate> failing;

        FakeOpener(Delegate... failing) {
            this.failing = Arrays.asList(failing);
        }

        @Override
        public String open(Delegate d) {
            asked.add(d);
            if (failing.contains(d)) {
                throw new IllegalArgumentException("Internal error: Failed to apply " + d.id() + " delegate.\n"
                        + "second line of the native log");
            }
            return "session on " + d.id();
        }
    }

    @Test
    public void chainsEndOnTheCpu() {
        assertEquals(Arrays.asList(Delegate.GPU, Delegate.XNNPACK, Delegate.CPU), DelegateFallback.chain(Delegate.GPU));
        assertEquals(Arrays.asList(Delegate.NNAPI, Delegate.XNNPACK, Delegate.CPU),
                DelegateFallback.chain(Delegate.NNAPI));
        assertEquals(Arrays.asList(Delegate.XNNPACK, Delegate.CPU), DelegateFallback.chain(Delegate.XNNPACK));
        assertEquals(Arrays.asList(Delegate.CPU), DelegateFallback.chain(Delegate.CPU));
    }

    @Test
    public void theRequestedDelegateIsUsedWhenItOpens() {
        FakeOpener opener = new FakeOpener();
        DelegateFallback.Outcome<String> out = DelegateFallback.open(Delegate.GPU, MODERN, opener);
        assertEquals("session on gpu", out.session());
        assertEquals(Delegate.GPU, out.used());
        assertFalse(out.fellBack());
        assertTrue(out.failures().isEmpty());
        assertEquals("gpu", out.describe());
        assertEquals(Arrays.asList(Delegate.GPU), opener.asked);
    }

    @Test
    public void aGpuThatFailsToInitialiseFallsBackToXnnpack() {
        FakeOpener opener = new FakeOpener(Delegate.GPU);
        DelegateFallback.Outcome<String> out = DelegateFallback.open(Delegate.GPU, MODERN, opener);
        assertEquals("session on xnnpack", out.session());
        assertEquals(Delegate.XNNPACK, out.used());
        assertEquals(Delegate.GPU, out.requested());
        assertTrue(out.fellBack());
        assertEquals(1, out.failures().size());
        assertTrue(out.failures().get(0).tried());
        assertEquals("Internal error: Failed to apply gpu delegate.", out.failures().get(0).reason());
        assertEquals("xnnpack (gpu failed: Internal error: Failed to apply gpu delegate.)", out.describe());
        assertEquals(Arrays.asList(Delegate.GPU, Delegate.XNNPACK), opener.asked);
    }

    @Test
    public void anUnsupportedOpAtTheTrialRunFallsBackToo() {
        DelegateFallback.Opener<String> opener = d -> {
            if (d == Delegate.NNAPI) {
                // Opened, then the trial inference hit an op the accelerator cannot run.
                throw new IllegalStateException("Internal error: Failed to run on the given Interpreter: "
                        + "NN API returned error ANEURALNETWORKS_OP_FAILED");
            }
            return d.id();
        };
        DelegateFallback.Outcome<String> out = DelegateFallback.open(Delegate.NNAPI, MODERN, opener);
        assertEquals(Delegate.XNNPACK, out.used());
        assertTrue(out.failures().get(0).reason().contains("ANEURALNETWORKS_OP_FAILED"));
    }

    @Test
    public void unavailableDelegatesAreSkippedWithoutTrying() {
        FakeOpener opener = new FakeOpener();
        DelegateFallback.DeviceSupport oldUnlisted = new DelegateFallback.DeviceSupport(26, false);
        DelegateFallback.Outcome<String> gpu = DelegateFallback.open(Delegate.GPU, oldUnlisted, opener);
        DelegateFallback.Outcome<String> nnapi = DelegateFallback.open(Delegate.NNAPI, oldUnlisted, opener);
        assertEquals(Arrays.asList(Delegate.XNNPACK, Delegate.XNNPACK), opener.asked);
        assertFalse(gpu.failures().get(0).tried());
        assertEquals("xnnpack (gpu skipped: this device is not on the GPU delegate's compatibility list)",
                gpu.describe());
        assertEquals("xnnpack (nnapi skipped: NNAPI needs Android 8.1 (API 27), this is API 26)", nnapi.describe());
    }

    @Test
    public void aMissingNativeLibraryCountsAsAFailure() {
        DelegateFallback.Opener<String> opener = d -> {
            if (d == Delegate.GPU) {
                throw new UnsatisfiedLinkError();
            }
            return d.id();
        };
        DelegateFallback.Outcome<String> out = DelegateFallback.open(Delegate.GPU, MODERN, opener);
        assertEquals("xnnpack", out.session());
        assertEquals("UnsatisfiedLinkError", out.failures().get(0).reason());
    }

    @Test
    public void otherErrorsAreNotSwallowed() {
        DelegateFallback.Opener<String> opener = d -> {
            throw new OutOfMemoryError("model too big");
        };
        assertThrows(OutOfMemoryError.class, () -> DelegateFallback.open(Delegate.GPU, MODERN, opener));
    }

    @Test
    public void whenNothingOpensEveryReasonIsReported() {
        FakeOpener opener = new FakeOpener(Delegate.GPU, Delegate.XNNPACK, Delegate.CPU);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DelegateFallback.open(Delegate.GPU, MODERN, opener));
        assertEquals("the model runs on no delegate: gpu failed: Internal error: Failed to apply gpu delegate.; "
                + "xnnpack failed: Internal error: Failed to apply xnnpack delegate.; "
                + "cpu failed: Internal error: Failed to apply cpu delegate.", e.getMessage());
        FakeOpener cpuOnly = new FakeOpener(Delegate.CPU);
        assertThrows(IllegalStateException.class, () -> DelegateFallback.open(Delegate.CPU, MODERN, cpuOnly));
        assertEquals(Arrays.asList(Delegate.CPU), cpuOnly.asked);
    }

    @Test
    public void nnapiIsOfferedOnlyWhereThePlatformHasIt() {
        assertEquals(Arrays.asList(Delegate.CPU, Delegate.XNNPACK, Delegate.GPU),
                new DelegateFallback.DeviceSupport(26, true).choices());
        assertEquals(Arrays.asList(Delegate.CPU, Delegate.XNNPACK, Delegate.GPU, Delegate.NNAPI),
                new DelegateFallback.DeviceSupport(27, false).choices());
    }

    @Test
    public void reasonsAreOneLine() {
        assertEquals("first", DelegateFallback.reason(new RuntimeException("  first\nsecond")));
        assertEquals("IllegalStateException", DelegateFallback.reason(new IllegalStateException(" ")));
    }
}
