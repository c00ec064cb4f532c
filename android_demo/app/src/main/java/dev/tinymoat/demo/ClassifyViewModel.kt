package dev.tinymoat.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.LiveData
import androidx.lifecycle.MutableLiveData
import dev.tinymoat.demo.core.ArtifactName
import dev.tinymoat.demo.core.Classification
import dev.tinymoat.demo.core.Delegate
import dev.tinymoat.demo.core.ImageClassifier
import dev.tinymoat.demo.core.ImagePreprocessor
import dev.tinymoat.demo.core.ModelLabels
import dev.tinymoat.demo.core.Normalization
import java.util.concurrent.Executors

/**
 * Loads the model once and classifies photos, all on one background thread (the
 * interpreter is not thread-safe). The logic lives in the core module; this wires it.
 */
class ClassifyViewModel(application: Application) : AndroidViewModel(application) {
    sealed interface State {
        data object Loading : State
        data class Ready(val modelInfo: String) : State
        data class Classified(val modelInfo: String, val image: Bitmap, val top: List<Classification>) : State
        /** [canClassify]: the model is loaded, so another photo may work. */
        data class Failed(val message: String, val canClassify: Boolean) : State
    }

    private val worker = Executors.newSingleThreadExecutor()
    private val _state = MutableLiveData<State>(State.Loading)
    val state: LiveData<State> = _state

    private var session: LiteRtSession? = null
    private var classifier: ImageClassifier? = null
    private var preprocessor: ImagePreprocessor? = null
    private var modelInfo = ""

    init {
        worker.execute { load() }
    }

    private fun load() {
        try {
            val model = ModelAsset.load(getApplication<Application>())
            val opened = LiteRtSession.open(model.buffer, Delegate.XNNPACK, THREADS)
            session = opened
            val metadata = ModelMetadata.inputNormalization(model.buffer)
            val normalization = Normalization.fromMetadataOrVariant(
                metadata?.first, metadata?.second, ArtifactName.of(model.fileName).variant())
            val labels = ModelLabels.fromModel(model.buffer)
            val pre = ImageClassifier.preprocessorFor(opened.input, normalization, CENTER_CROP)
            preprocessor = pre
            classifier = ImageClassifier({ input, output -> opened.run(input, output) }, pre, opened.output, labels)
            modelInfo = getApplication<Application>().getString(R.string.model_info, model.fileName,
                opened.input.toString(), labels.size,
                if (metadata != null) "model metadata" else "variant default")
            _state.postValue(State.Ready(modelInfo))
        } catch (e: Exception) {
            _state.postValue(State.Failed(e.message ?: e.toString(), canClassify = false))
        }
    }

    fun classify(uri: Uri) {
        worker.execute {
            val pre = preprocessor ?: return@execute
            val model = classifier ?: return@execute
            try {
                val (image, preview) = ImageDecoding.decode(getApplication<Application>(), uri, pre.width(), pre.height())
                _state.postValue(State.Classified(modelInfo, preview, model.classify(image, TOP_K)))
            } catch (e: Exception) {
                _state.postValue(State.Failed(e.message ?: e.toString(), canClassify = true))
            }
        }
    }

    override fun onCleared() {
        worker.execute { session?.close() }
        worker.shutdown()
    }

    companion object {
        const val TOP_K = 5
        const val THREADS = 4
        /** The largest centred region with the input's aspect ratio, so photos are not stretched. */
        const val CENTER_CROP = 1.0
    }
}
