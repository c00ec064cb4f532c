package dev.tinymoat.demo

import android.os.Build
import android.os.Bundle
import android.widget.ArrayAdapter
import androidx.activity.viewModels
import androidx.appcompat.app.AppCompatActivity
import dev.tinymoat.demo.core.Delegate
import dev.tinymoat.demo.core.DelegateFallback
import dev.tinymoat.demo.databinding.ActivityBenchmarkBinding

/** Delegate, threads, runs and warm-up in; latency statistics and a result file out. */
class BenchmarkActivity : AppCompatActivity() {
    private lateinit var binding: ActivityBenchmarkBinding
    private val model: BenchmarkViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        binding = ActivityBenchmarkBinding.inflate(layoutInflater)
        setContentView(binding.root)
        SystemBars.padContent(binding.root)
        supportActionBar?.setDisplayHomeAsUpEnabled(true)

        // No fallback here (a result must be for the delegate it names), but NNAPI only where it exists.
        val delegates = DelegateFallback.DeviceSupport(Build.VERSION.SDK_INT, true).choices().map { it.id() }
        binding.delegate.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, delegates)
        if (savedInstanceState == null) binding.delegate.setSelection(delegates.indexOf(Delegate.XNNPACK.id()))

        binding.runButton.setOnClickListener {
            model.run(binding.delegate.selectedItem as String, binding.threads.text.toString(),
                binding.runs.text.toString(), binding.warmup.text.toString())
        }
        model.state.observe(this, ::render)
    }

    override fun onSupportNavigateUp(): Boolean {
        finish()
        return true
    }

    private fun render(state: BenchmarkViewModel.State) {
        binding.runButton.isEnabled = state !is BenchmarkViewModel.State.Running
        binding.status.text = when (state) {
            is BenchmarkViewModel.State.Idle -> getString(R.string.benchmark_idle)
            is BenchmarkViewModel.State.Running -> getString(R.string.benchmark_running, state.config.toString())
            is BenchmarkViewModel.State.Done -> getString(R.string.benchmark_done,
                state.result.latency().toString(), state.file.absolutePath,
                state.file.parentFile?.absolutePath ?: state.file.absolutePath)
            is BenchmarkViewModel.State.Failed -> getString(R.string.error, state.message)
        }
    }
}
