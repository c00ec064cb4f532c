package dev.tinymoat.demo

import java.nio.ByteBuffer
import org.tensorflow.lite.support.metadata.MetadataExtractor
import org.tensorflow.lite.support.metadata.schema.NormalizationOptions
import org.tensorflow.lite.support.metadata.schema.ProcessUnitOptions

/**
 * The input normalisation that tinymoat-export writes into the model's TFLite metadata
 * (NormalizationOptions of the first input, mean/std in 0..255 units).
 */
object ModelMetadata {
    /** {mean, std}, or null when the model has no such metadata or it cannot be read. */
    fun inputNormalization(model: ByteBuffer): Pair<FloatArray, FloatArray>? = try {
        val extractor = MetadataExtractor(model.duplicate())
        val tensor = if (extractor.hasMetadata()) extractor.getInputTensorMetadata(0) else null
        val unit = tensor?.let { t ->
            (0 until t.processUnitsLength()).map { t.processUnits(it) }
                .firstOrNull { it.optionsType() == ProcessUnitOptions.NormalizationOptions }
        }
        unit?.let {
            val options = it.options(NormalizationOptions()) as NormalizationOptions
            Pair(FloatArray(options.meanLength()) { i -> options.mean(i) },
                FloatArray(options.stdLength()) { i -> options.std(i) })
        }
    } catch (e: Exception) {
        null
    }
}
