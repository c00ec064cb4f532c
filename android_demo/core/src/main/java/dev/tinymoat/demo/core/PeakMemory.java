package dev.tinymoat.demo.core;

/**
 * Peak resident memory of the process from the text of {@code /proc/self/status}
 * ({@code VmHWM}, the high-water mark of the resident set), in MiB.
 *
 * <p>The result reports growth, as {@code tinymoat-bench} does on hosts: the peak
 * after the last run minus the peak before the interpreter was created, after
 * resetting the peak (writing "5" to {@code /proc/self/clear_refs}) where the
 * system allows it.
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

    /** Growth of the peak between two readings in MiB (never negative), or null if either is missing. */
    public static Double growthMb(Double peakBeforeMb, Double peakAfterMb) {
        if (peakBeforeMb == null || peakAfterMb == null) {
            return null;
        }
        return Math.max(0.0, peakAfterMb - peakBeforeMb);
    }
}
