package dev.tinymoat.demo

import dev.tinymoat.demo.core.PeakMemory
import java.io.File

/** The process's own /proc entries: peak resident memory, and resetting it. */
object ProcMemory {
    /** Writes "5" to /proc/self/clear_refs (resets VmHWM); false where the system refuses. */
    fun resetPeak(): Boolean = try {
        File("/proc/self/clear_refs").writeText("5")
        true
    } catch (e: Exception) {
        false
    }

    /** VmHWM in MiB, or null when /proc/self/status cannot be read. */
    fun peakMb(): Double? = try {
        PeakMemory.fromProcStatus(File("/proc/self/status").readText())
    } catch (e: Exception) {
        null
    }
}
