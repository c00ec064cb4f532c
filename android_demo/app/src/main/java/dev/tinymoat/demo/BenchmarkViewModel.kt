package dev.tinymoat.demo

import android.app.Application
import android.os.Build
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.LiveData
import androidx.lifecycle.MutableLiveData
import dev.tinymoat.demo.core.ArtifactName
import dev.tinymoat.demo.core.BenchmarkConfig
import dev.tinymoat.demo.core.BenchmarkInput
import dev.tinymoat.demo.core.BenchmarkResult
import dev.tinymoat.demo.core.DeviceDescription
import dev.tinymoat.demo.core.ImageClassifier
import dev.tinymoat.demo.core.Normalization
import dev.tinymoat.demo.core.PeakMemory
import dev.tinymoat.demo.core.Sha256
import dev.tinymoat.demo.core.TimingLoop
import java.io.File
import java.io.IOException
import java.nio.Buffer
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.Executors

/**
 * Runs one benchmark on a background thread and writes its tinymoat.latency/1 result
 * to Android/data/<package>/files/tinymoat-bench/. What is timed and how the numbers
 * are summarised is core code (TimingLoop, LatencyStats, BenchmarkResult).
 */
class BenchmarkViewModel(application: Application) : AndroidViewModel(application) {
    sealed interface State {
        data object Idle : State
        data class Running(val config: BenchmarkConfig) : State
        data class Done(val result: BenchmarkResult, val file: File) : State
        data class Failed(val message: String) : State
    }

    private val worker = Executors.newSingleThreadExecutor()
    private val _state = MutableLiveData<State>(State.Idle)
    val state: LiveData<State> = _state

    fun run(delegate: String, threads: String, runs: String, warmup: String) {
        if (_state.value is State.Running) return
        val config = try {
            BenchmarkConfig.parse(delegate, threads, runs, warmup)
        } catch (e: IllegalArgumentException) {
            _state.value = State.Failed(e.message ?: e.toString())
            return
        }
        _state.value = State.Running(config)
        worker.execute {
            try {
                val result = measure(config)
                _state.postValue(State.Done(result, write(result)))
            } catch (e: Exception) {
                _state.postValue(State.Failed(e.message ?: e.toString()))
            }
        }
    }

    private fun measure(config: BenchmarkConfig): BenchmarkResult {
        val model = ModelAsset.load(getApplication<Application>())
        val name = ArtifactName.of(model.fileName)
        val loop = TimingLoop(TimingLoop.SYSTEM_CLOCK)
        val peakReset = ProcMemory.resetPeak()
        val peakBefore = ProcMemory.peakMb()
        var opened: LiteRtSession? = null
        val initMs = loop.timeMs { opened = LiteRtSession.open(model.buffer, config.delegate(), config.threads()) }
        val session = opened ?: throw IllegalStateException("interpreter was not created")
        return session.use { s ->
            val metadata = ModelMetadata.inputNormalization(model.buffer)
            val normalization = Normalization.fromMetadataOrVariant(metadata?.first, metadata?.second, name.variant())
            val pre = ImageClassifier.preprocessorFor(s.input, normalization, 0.0)
            val input = ByteBuffer.allocateDirect(pre.outputBytes()).order(ByteOrder.nativeOrder())
            pre.writeTo(BenchmarkInput.gradient(pre.width(), pre.height()), input)
            val output = ByteBuffer.allocateDirect(s.output.byteCount()).order(ByteOrder.nativeOrder())
            val timings = loop.run({
                (input as Buffer).rewind()
                (output as Buffer).rewind()
                s.run(input, output)
            }, config.warmup(), config.runs())
            val peakAfter = ProcMemory.peakMb()
            BenchmarkResult.builder()
                .device(device())
                .runtimeVersion(BuildConfig.LITERT_VERSION)
                .config(config)
                .artifact(name, s.input.imageSize(), model.sizeBytes, Sha256.hex(model.buffer))
                .timings(timings)
                .initMs(initMs)
                .peakMemory(PeakMemory.growthMb(peakBefore, peakAfter), peakReset)
                .createdMillis(System.currentTimeMillis())
                .toolVersion(BuildConfig.VERSION_NAME)
                .build()
        }
    }

    private fun device(): DeviceDescription {
        val socManufacturer = if (Build.VERSION.SDK_INT >= 31) Build.SOC_MANUFACTURER else null
        val socModel = if (Build.VERSION.SDK_INT >= 31) Build.SOC_MODEL else null
        return DeviceDescription.fromBuild(Build.MANUFACTURER, Build.MODEL, Build.VERSION.RELEASE,
            Build.VERSION.SDK_INT, Build.SUPPORTED_ABIS.firstOrNull(), socManufacturer, socModel)
    }

    /** Android/data/<package>/files/tinymoat-bench/<name>.json: no permission needed, adb can pull it. */
    private fun write(result: BenchmarkResult): File {
        val root = getApplication<Application>().getExternalFilesDir(null)
            ?: throw IOException("shared storage is not available")
        val dir = File(root, RESULTS_DIR)
        if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create $dir")
        val file = File(dir, result.fileName())
        file.writeText(result.toJson() + "\n", Charsets.UTF_8)
        return file
    }

    override fun onCleared() {
        worker.shutdown()
    }

    companion object {
        const val RESULTS_DIR = "tinymoat-bench"
    }
}
