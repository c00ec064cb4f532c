package dev.tinymoat.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.exifinterface.media.ExifInterface
import dev.tinymoat.demo.core.ArgbImage
import dev.tinymoat.demo.core.DecodeSampling
import dev.tinymoat.demo.core.ExifOrientation
import java.io.IOException

/** Decodes a picked or captured photo into upright ARGB pixels, subsampled while decoding. */
object ImageDecoding {
    fun decode(context: Context, uri: Uri, targetWidth: Int, targetHeight: Int): Pair<ArgbImage, Bitmap> {
        val resolver = context.contentResolver
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw IOException("not an image: $uri")
        val options = BitmapFactory.Options().apply {
            inSampleSize = DecodeSampling.inSampleSize(bounds.outWidth, bounds.outHeight, targetWidth, targetHeight)
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        val bitmap = resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IOException("cannot decode $uri")
        val orientation = resolver.openInputStream(uri)?.use {
            ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        } ?: ExifInterface.ORIENTATION_NORMAL
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val upright = ExifOrientation.apply(ArgbImage(pixels, bitmap.width, bitmap.height), orientation)
        return Pair(upright, toBitmap(upright))
    }

    /** For the preview, so it shows exactly what the model was given before resizing. */
    fun toBitmap(image: ArgbImage): Bitmap =
        Bitmap.createBitmap(image.pixels(), image.width(), image.height(), Bitmap.Config.ARGB_8888)
}
