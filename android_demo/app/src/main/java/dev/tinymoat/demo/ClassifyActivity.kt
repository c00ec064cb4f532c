package dev.tinymoat.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.core.content.ContextCompat
import dev.tinymoat.demo.core.Delegate
import dev.tinymoat.demo.databinding.ActivityClassifyBinding
import java.util.Locale

/**
 * Pick a photo or point the camera: the model's top-5 labels, on the delegate and
 * thread count chosen on this screen. Live results are smoothed over frames.
 */
class ClassifyActivity : AppCompatActivity() {
    private lateinit var binding: ActivityClassifyBinding
    private val model: ClassifyViewModel by viewModels()
    private var cameraProvider: ProcessCameraProvider? = null
    private var analysis: ImageAnalysis? = null
    private var shownDelegates: List<Delegate> = emptyList()
    private var shownThreads: List<Int> = emptyList()

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) {
            stopCamera()
            model.classify(uri)
        }
    }

    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else model.showError(getString(R.string.camera_denied))
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding = ActivityClassifyBinding.inflate(layoutInflater)
        setContentView(binding.root)
        SystemBars.padContent(binding.root)

        binding.pickButton.setOnClickListener {
            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        binding.liveButton.setOnClickListener {
            if (analysis != null) stopCamera() else requestCamera()
        }
        binding.benchmarkButton.setOnClickListener {
            stopCamera()
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        val onSettingChanged = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = applySettings()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        binding.delegate.onItemSelectedListener = onSettingChanged
        binding.threads.onItemSelectedListener = onSettingChanged

        // Recreated (rotation) while live: the camera is bound to this activity, so bind it again.
        if (model.state.value?.live == true && hasCameraPermission()) startCamera()
        model.state.observe(this, ::render)
    }

    private fun applySettings() {
        val state = model.state.value ?: return
        val delegate = shownDelegates.getOrNull(binding.delegate.selectedItemPosition) ?: return
        val threads = shownThreads.getOrNull(binding.threads.selectedItemPosition) ?: return
        if (delegate != state.settings.delegate() || threads != state.settings.threads()) {
            model.choose(delegate, threads)
        }
    }

    private fun hasCameraPermission() =
        ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED

    private fun requestCamera() {
        if (hasCameraPermission()) startCamera() else cameraPermission.launch(Manifest.permission.CAMERA)
    }

    /** Preview and analysis use cases, bound to this activity's lifecycle (stopped in the background). */
    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            try {
                val provider = future.get()
                cameraProvider = provider
                val preview = Preview.Builder().build()
                preview.setSurfaceProvider(binding.viewFinder.surfaceProvider)
                val imageAnalysis = ImageAnalysis.Builder()
                    .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                    .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_YUV_420_888)
                    .build()
                imageAnalysis.setAnalyzer(model.analysisExecutor) { image -> model.analyze(image) }
                val camera = if (provider.hasCamera(CameraSelector.DEFAULT_BACK_CAMERA)) {
                    CameraSelector.DEFAULT_BACK_CAMERA
                } else {
                    CameraSelector.DEFAULT_FRONT_CAMERA
                }
                provider.unbindAll()
                provider.bindToLifecycle(this, camera, preview, imageAnalysis)
                analysis = imageAnalysis
                model.setLive(true)
            } catch (e: Exception) {
                analysis = null
                model.showError(getString(R.string.camera_failed, e.message ?: e.toString()))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun stopCamera() {
        val wasLive = analysis != null
        analysis?.clearAnalyzer()
        analysis = null
        cameraProvider?.unbindAll()
        if (wasLive) model.setLive(false)
    }

    private fun render(state: ClassifyViewModel.UiState) {
        if (state.delegateChoices != shownDelegates) {
            shownDelegates = state.delegateChoices
            binding.delegate.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
                shownDelegates.map { it.id() })
        }
        if (state.threadChoices != shownThreads) {
            shownThreads = state.threadChoices
            binding.threads.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
                shownThreads.map { it.toString() })
        }
        shownDelegates.indexOf(state.settings.delegate()).takeIf { it >= 0 }?.let { binding.delegate.setSelection(it) }
        shownThreads.indexOf(state.settings.threads()).takeIf { it >= 0 }?.let { binding.threads.setSelection(it) }

        binding.modelInfo.text = if (state.loading) getString(R.string.loading) else state.modelInfo
        binding.runningOn.text = if (state.runningOn.isEmpty()) "" else
            getString(R.string.running_on, state.runningOn, state.settings.threads())
        binding.pickButton.isEnabled = state.canClassify
        binding.liveButton.isEnabled = state.canClassify
        binding.delegate.isEnabled = !state.loading
        binding.threads.isEnabled = !state.loading
        binding.liveButton.setText(if (state.live) R.string.stop_camera else R.string.live_camera)
        binding.viewFinder.visibility = if (state.live) View.VISIBLE else View.GONE
        binding.preview.visibility = if (!state.live && state.photo != null) View.VISIBLE else View.GONE
        state.photo?.let { binding.preview.setImageBitmap(it) }

        val lines = state.top.map { String.format(Locale.ROOT, "%5.1f%%  %s", 100f * it.score(), it.label()) }
        val timing = state.lastMs?.let {
            getString(if (state.source == ClassifyViewModel.Source.CAMERA) R.string.ms_per_frame else R.string.ms_per_photo, it)
        }
        binding.results.text = listOfNotNull(lines.joinToString("\n").ifEmpty { null }, timing,
            state.error?.let { getString(R.string.error, it) }).joinToString("\n\n")
    }
}
