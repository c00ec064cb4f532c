package dev.tinymoat.demo

import android.content.Intent
import android.net.Uri
import android.os.Bundle
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.appcompat.app.AppCompatActivity
import androidx.core.content.FileProvider
import dev.tinymoat.demo.databinding.ActivityClassifyBinding
import java.io.File
import java.util.Locale

/** Pick or take a photo, see the model's top-5 labels. */
class ClassifyActivity : AppCompatActivity() {
    private lateinit var binding: ActivityClassifyBinding
    private val model: ClassifyViewModel by viewModels()
    private var captureUri: Uri? = null

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let(model::classify)
    }

    private val takePhoto = registerForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val uri = captureUri
        if (saved && uri != null) model.classify(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding = ActivityClassifyBinding.inflate(layoutInflater)
        setContentView(binding.root)
        captureUri = savedInstanceState?.getString(KEY_CAPTURE)?.let(Uri::parse)

        binding.pickButton.setOnClickListener {
            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        binding.cameraButton.setOnClickListener {
            val file = File(cacheDir, "captures/photo.jpg").apply { parentFile?.mkdirs() }
            val uri = FileProvider.getUriForFile(this, "$packageName.fileprovider", file)
            captureUri = uri
            takePhoto.launch(uri)
        }
        binding.benchmarkButton.setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java))
        }
        model.state.observe(this, ::render)
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        captureUri?.let { outState.putString(KEY_CAPTURE, it.toString()) }
    }

    private fun render(state: ClassifyViewModel.State) {
        val ready = state is ClassifyViewModel.State.Ready || state is ClassifyViewModel.State.Classified ||
            (state is ClassifyViewModel.State.Failed && state.canClassify)
        binding.pickButton.isEnabled = ready
        binding.cameraButton.isEnabled = ready
        when (state) {
            is ClassifyViewModel.State.Loading -> binding.modelInfo.setText(R.string.loading)
            is ClassifyViewModel.State.Ready -> binding.modelInfo.text = state.modelInfo
            is ClassifyViewModel.State.Classified -> {
                binding.modelInfo.text = state.modelInfo
                binding.preview.setImageBitmap(state.image)
                binding.results.text = state.top.joinToString("\n") {
                    String.format(Locale.ROOT, "%5.1f%%  %s", 100f * it.score(), it.label())
                }
            }
            is ClassifyViewModel.State.Failed -> binding.results.text = getString(R.string.error, state.message)
        }
    }

    private companion object {
        const val KEY_CAPTURE = "capture_uri"
    }
}
