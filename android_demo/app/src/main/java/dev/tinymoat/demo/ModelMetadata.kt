package dev.tinymoat.demo

import java.nio.ByteBuffer
import org.tensorflow.lite.support.metadata.MetadataExtractor
import org.tensorflow.lite.support.metadata.schema.NormalizationOptions
import org.tensorflow.lite.support.metadata.schema.ProcessUnitOptions

/**
 * What tinymoat-export writes into the model's TFLite metadata and the app reads: the
 * input normalisation (NormalizationOptions of the first input, mean/std in 0..255
 * units) and the output's name ("probability" or "logits"), read by OutputKind.
 */
object ModelMetadata {
    /** Name of output 0 in the metadata, or null when the model has none. */
    fun outputName(model: ByteBuffer): String? = try {
        val extractor = MetadataExtractor(model.duplicate())
        if (extractor.hasMetadata()) extractor.getOutputTensorMetadata(0)?.name() else null
    } catch (e: Exception) {
        null
    }

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
