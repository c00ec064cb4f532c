package dev.tinymoat.demo.core;

/**
 * Peak resident memory of the process from the text of {@code /proc/self/status}
 * ({@code VmHWM}, the high-water mark of the resident set), in MiB.
 */
public final class PeakMemory {
    private PeakMemory() {
    }

    /** The peak in MiB, or null when the text has no parsable {@code VmHWM} line. */
    public static Double fromProcStatus(String status) {
        if (status == null) {
            return null;
        }
        for (String line : status.split("\n")) {
            if (!line.startsWith("VmHWM:")) {
                continue;
            }
            String[] parts = line.substring("VmHWM:".length()).trim().split("\\s+");
            if (parts.length != 2 || !parts[1].equals("kB")) {
                return null;
            }
            try {
                return Long.parseLong(parts[0]) / 1024.0;
            } catch (NumberFormatException e) {
                return null;
            }
        }
        return null;
    }
}
