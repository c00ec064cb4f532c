package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import org.junit.Test;

public class DeviceDescriptionTest {
    @Test
    public void spelledLikeTinymoatBenchOverAdb() {
        // export/latency/android.py device_info for the same getprop values.
        DeviceDescription d = DeviceDescription.fromBuild("Google", "Pixel 8", "14", 34, "arm64-v8a",
                "Google", "Tensor G3");
        assertNull(d.name());
        assertEquals("Google Pixel 8", d.model());
        assertEquals("Android 14 (API 34)", d.os());
        assertEquals("arm64-v8a", d.cpu());
        assertEquals("Google Tensor G3", d.soc());
        assertEquals("samsung SM-S911B",
                DeviceDescription.fromBuild("samsung", "SM-S911B", "13", 33, "arm64-v8a", "QTI", "SM8550").model());
    }

    @Test
    public void unknownValuesAreNull() {
        // Before API 31 there is no SOC_MODEL; from 31 on, devices that do not say report "unknown".
        assertNull(DeviceDescription.fromBuild("Xiaomi", "Redmi Note 8", "9", 28, "arm64-v8a", null, null).soc());
        assertNull(DeviceDescription.fromBuild("a", "b", "12", 31, "x86_64", "unknown", "unknown").soc());
        assertEquals("SM8550", DeviceDescription.fromBuild("a", "b", "12", 31, "x86_64", "unknown", "SM8550").soc());
        DeviceDescription blank = DeviceDescription.fromBuild(" ", "", "", 24, null, null, null);
        assertNull(blank.model());
        assertNull(blank.os());
        assertNull(blank.cpu());
        assertEquals("Pixel", DeviceDescription.fromBuild(null, "Pixel", "7", 0, "x", null, null).model());
        assertEquals("Android 7", DeviceDescription.fromBuild(null, "Pixel", "7", 0, "x", null, null).os());
    }
}
