package dev.tinymoat.demo

import android.graphics.ImageFormat
import android.graphics.PixelFormat
import androidx.camera.core.ImageProxy
import dev.tinymoat.demo.core.CameraFrame

/**
 * CameraX's ImageProxy in core terms, without copying: the planes' buffers, strides,
 * crop rect and rotation. Use the frame before the ImageProxy is closed.
 */
object CameraFrames {
    fun of(image: ImageProxy): CameraFrame {
        val format = when (image.format) {
            ImageFormat.YUV_420_888 -> CameraFrame.Format.YUV_420_888
            PixelFormat.RGBA_8888 -> CameraFrame.Format.RGBA_8888
            else -> throw IllegalArgumentException("camera frame format ${image.format} is neither YUV_420_888 nor RGBA_8888")
        }
        val planes = image.planes.map { CameraFrame.Plane(it.buffer, it.rowStride, it.pixelStride) }.toTypedArray()
        val crop = image.cropRect
        return CameraFrame(format, image.width, image.height, planes, image.imageInfo.rotationDegrees,
            crop.left, crop.top, crop.width(), crop.height())
    }
}
