package dev.tinymoat.demo

import android.content.Context
import java.io.FileInputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.channels.FileChannel

/**
 * The exported model in the APK's assets, memory-mapped (the build keeps .tflite
 * files uncompressed for that). Copy it into app/src/main/assets/ before building.
 */
class ModelAsset private constructor(val fileName: String, val buffer: ByteBuffer) {
    val sizeBytes: Long get() = buffer.capacity().toLong()

    companion object {
        const val DEFAULT_FILE = "tiny-moat-0_224_int8.tflite"

        /** [DEFAULT_FILE] if it is there, else the first .tflite asset in name order. */
        fun load(context: Context): ModelAsset {
            val names = context.assets.list("")?.filter { it.endsWith(".tflite") }?.sorted().orEmpty()
            val name = if (DEFAULT_FILE in names) DEFAULT_FILE else names.firstOrNull()
                ?: throw IOException(context.getString(R.string.error_no_model, DEFAULT_FILE))
            return context.assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    // The mapping stays valid after the stream is closed.
                    ModelAsset(name, stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength))
                }
            }
        }
    }
}
