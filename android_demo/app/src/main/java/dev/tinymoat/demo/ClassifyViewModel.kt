package dev.tinymoat.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import android.os.Build
import androidx.camera.core.ImageProxy
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.LiveData
import androidx.lifecycle.MutableLiveData
import dev.tinymoat.demo.core.ArtifactName
import dev.tinymoat.demo.core.Classification
import dev.tinymoat.demo.core.Delegate
import dev.tinymoat.demo.core.DelegateFallback
import dev.tinymoat.demo.core.FrameConverter
import dev.tinymoat.demo.core.ImageClassifier
import dev.tinymoat.demo.core.ImagePreprocessor
import dev.tinymoat.demo.core.InferenceSettings
import dev.tinymoat.demo.core.ModelLabels
import dev.tinymoat.demo.core.Normalization
import dev.tinymoat.demo.core.OutputKind
import dev.tinymoat.demo.core.ScoreSmoother
import java.util.concurrent.Executor
import java.util.concurrent.Executors
import java.util.concurrent.RejectedExecutionException
import org.tensorflow.lite.gpu.CompatibilityList

/**
 * Loads the model once and classifies picked photos and live camera frames, all on one
 * background thread: the interpreter is not thread-safe and the GPU delegate must be
 * used on the thread that created it, so camera frames are analysed on that thread too
 * ([analysisExecutor]). Every state change happens on that thread as well. The logic
 * (frame conversion, delegate fallback, smoothing, output kind) lives in the core module.
 */
class ClassifyViewModel(application: Application) : AndroidViewModel(application) {
    enum class Source { NONE, PHOTO, CAMERA }

    data class UiState(
        val settings: InferenceSettings,
        val threadChoices: List<Int>,
        val delegateChoices: List<Delegate> = emptyList(),
        val loading: Boolean = true,
        val modelInfo: String = "",
        /** The delegate the model runs on, with why the chosen one was not used (DelegateFallback). */
        val runningOn: String = "",
        val canClassify: Boolean = false,
        /** The camera should be running (the activity binds it, also after being recreated). */
        val live: Boolean = false,
        val source: Source = Source.NONE,
        val photo: Bitmap? = null,
        val top: List<Classification> = emptyList(),
        /** Conversion, preprocessing and inference of the last photo or frame. */
        val lastMs: Double? = null,
        val error: String? = null,
    )

    private val worker = Executors.newSingleThreadExecutor()
    private val cores = Runtime.getRuntime().availableProcessors()

    /** Only touched on the worker thread; published with postValue. */
    private var current = UiState(InferenceSettings.defaults(cores), InferenceSettings.threadChoices(cores))
    private val _state = MutableLiveData(current)
    val state: LiveData<UiState> = _state

    /**
     * Where CameraX delivers frames: the interpreter's thread. After the view model is
     * cleared, a late frame is dropped (its ImageProxy goes with the unbound camera).
     */
    val analysisExecutor = Executor { task ->
        try {
            worker.execute(task)
        } catch (e: RejectedExecutionException) {
            // Shutting down.
        }
    }

    private var model: ModelAsset? = null
    private var labels: List<String> = emptyList()
    private var normalization: Normalization = Normalization.IMAGENET
    private var metadataOutputName: String? = null
    private var support = DelegateFallback.DeviceSupport(Build.VERSION.SDK_INT, false)
    private var session: LiteRtSession? = null
    private var classifier: ImageClassifier? = null
    private var preprocessor: ImagePreprocessor? = null
    private var frames: FrameConverter? = null
    private val smoother = ScoreSmoother()

    init {
        worker.execute { load() }
    }

    private fun update(next: UiState) {
        current = next
        _state.postValue(next)
    }

    private fun load() {
        try {
            val asset = ModelAsset.load(getApplication<Application>())
            model = asset
            labels = ModelLabels.fromModel(asset.buffer)
            val metadata = ModelMetadata.inputNormalization(asset.buffer)
            normalization = Normalization.fromMetadataOrVariant(
                metadata?.first, metadata?.second, ArtifactName.of(asset.fileName).variant())
            metadataOutputName = ModelMetadata.outputName(asset.buffer)
            support = DelegateFallback.DeviceSupport(Build.VERSION.SDK_INT, gpuListed())
            update(current.copy(delegateChoices = support.choices()))
            open(current.settings)
            val opened = session ?: return
            update(current.copy(modelInfo = getApplication<Application>().getString(R.string.model_info,
                asset.fileName, opened.input.toString(), labels.size,
                if (metadata != null) "model metadata" else "variant default",
                classifier?.outputKind()?.toString().orEmpty())))
        } catch (e: Exception) {
            update(current.copy(loading = false, error = e.message ?: e.toString()))
        }
    }

    /** The GPU delegate's own judgement of this device; false when it cannot even tell. */
    private fun gpuListed(): Boolean = try {
        CompatibilityList().use { it.isDelegateSupportedOnThisDevice }
    } catch (e: Exception) {
        false
    } catch (e: LinkageError) {
        false
    }

    /** (Re)creates the interpreter for [settings], falling back as DelegateFallback decides. */
    private fun open(settings: InferenceSettings) {
        session?.close()
        session = null
        classifier = null
        preprocessor = null
        frames = null
        val asset = model ?: run {
            update(current.copy(settings = settings))   // used once the model has loaded
            return
        }
        try {
            val outcome = DelegateFallback.open(settings.delegate(), support) { delegate ->
                val s = LiteRtSession.open(asset.buffer, delegate, settings.threads())
                try {
                    s.probe()
                    s
                } catch (e: Throwable) {
                    s.close()
                    throw e
                }
            }
            val opened = outcome.session()
            session = opened
            val kind = OutputKind.fromNames(metadataOutputName, opened.outputName)
            val pre = ImageClassifier.preprocessorFor(opened.input, normalization, CENTER_CROP)
            classifier = ImageClassifier({ input, output -> opened.run(input, output) }, pre, opened.output, labels, kind)
            preprocessor = pre
            frames = FrameConverter.forPreprocessor(pre, CENTER_CROP)
            smoother.reset()
            update(current.copy(settings = settings, loading = false, canClassify = true,
                runningOn = outcome.describe(), top = emptyList(), lastMs = null, error = null))
        } catch (e: Exception) {
            update(current.copy(settings = settings, loading = false, canClassify = false, runningOn = "",
                error = e.message ?: e.toString()))
        }
    }

    /** From the screen's spinners; reopens the interpreter when something changed. */
    fun choose(delegate: Delegate, threads: Int) {
        worker.execute {
            val next = InferenceSettings(delegate, threads)
            if (next != current.settings || session == null) open(next)
        }
    }

    fun classify(uri: Uri) {
        worker.execute {
            val c = classifier ?: return@execute
            val pre = preprocessor ?: return@execute
            try {
                val (image, preview) = ImageDecoding.decode(getApplication<Application>(), uri, pre.width(), pre.height())
                val start = System.nanoTime()
                val top = c.classify(image, TOP_K)
                val ms = (System.nanoTime() - start) / 1e6
                update(current.copy(live = false, source = Source.PHOTO, photo = preview, top = top, lastMs = ms,
                    error = null))
            } catch (e: Exception) {
                update(current.copy(error = e.message ?: e.toString()))
            }
        }
    }

    /** The camera was started or stopped: a new stream of frames starts a new average. */
    fun setLive(live: Boolean) {
        worker.execute {
            smoother.reset()
            update(current.copy(live = live, source = if (live) Source.CAMERA else current.source,
                photo = if (live) null else current.photo, top = if (live) emptyList() else current.top))
        }
    }

    fun showError(message: String) {
        worker.execute { update(current.copy(error = message)) }
    }

    /** ImageAnalysis.Analyzer, run on [analysisExecutor]. Always closes the frame. */
    fun analyze(image: ImageProxy) {
        image.use { proxy ->
            val c = classifier
            val converter = frames
            if (c == null || converter == null || !current.live) return
            try {
                val start = System.nanoTime()
                val probabilities = c.probabilities(converter.toImage(CameraFrames.of(proxy)))
                val ms = (System.nanoTime() - start) / 1e6
                update(current.copy(source = Source.CAMERA, top = c.top(smoother.update(probabilities), TOP_K),
                    lastMs = ms, error = null))
            } catch (e: Exception) {
                update(current.copy(error = e.message ?: e.toString()))
            }
        }
    }

    override fun onCleared() {
        worker.execute { session?.close() }
        worker.shutdown()
    }

    companion object {
        const val TOP_K = 5
        /** The largest centred region with the input's aspect ratio, so pictures are not stretched. */
        const val CENTER_CROP = 1.0
    }
}
