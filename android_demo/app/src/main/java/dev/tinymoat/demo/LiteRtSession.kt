package dev.tinymoat.demo

import dev.tinymoat.demo.core.Delegate
import dev.tinymoat.demo.core.Quantization
import dev.tinymoat.demo.core.TensorSpec
import dev.tinymoat.demo.core.TensorType
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

/**
 * A LiteRT interpreter for one delegate and thread count, with its tensors described
 * in core terms. Create, use and close it on one thread (the GPU delegate requires that).
 */
class LiteRtSession private constructor(
    private val interpreter: Interpreter,
    private val delegates: List<AutoCloseable>,
) : AutoCloseable {
    val input: TensorSpec = spec(interpreter.getInputTensor(0))
    val output: TensorSpec = spec(interpreter.getOutputTensor(0))
    /** The output tensor's name in the model, e.g. "probabilities" or "StatefulPartitionedCall:0". */
    val outputName: String? = interpreter.getOutputTensor(0).name()

    fun run(input: ByteBuffer, output: ByteBuffer) = interpreter.run(input, output)

    /**
     * One inference on a zero input: a delegate can accept the model when the interpreter
     * is created and still fail on its first run (an op it cannot execute after all).
     */
    fun probe() {
        val input = ByteBuffer.allocateDirect(this.input.byteCount()).order(ByteOrder.nativeOrder())
        val output = ByteBuffer.allocateDirect(this.output.byteCount()).order(ByteOrder.nativeOrder())
        interpreter.run(input, output)
    }

    override fun close() {
        interpreter.close()
        delegates.forEach { it.close() }
    }

    companion object {
        /**
         * Creates the interpreter and allocates its tensors: what init_ms measures.
         * cpu = LiteRT's built-in kernels (XNNPACK off), xnnpack = the XNNPACK delegate.
         */
        fun open(model: ByteBuffer, delegate: Delegate, threads: Int): LiteRtSession {
            val options = Interpreter.Options().setNumThreads(threads)
            val delegates = mutableListOf<AutoCloseable>()
            when (delegate) {
                Delegate.CPU -> options.setUseXNNPACK(false)
                Delegate.XNNPACK -> options.setUseXNNPACK(true)
                Delegate.GPU -> CompatibilityList().use { compatibility ->
                    check(compatibility.isDelegateSupportedOnThisDevice) {
                        "the GPU delegate does not support this device"
                    }
                    val gpu = GpuDelegate(compatibility.bestOptionsForThisDevice)
                    delegates += gpu
                    options.addDelegate(gpu)
                }
                Delegate.NNAPI -> {
                    val nnapi = NnApiDelegate()
                    delegates += nnapi
                    options.addDelegate(nnapi)
                }
            }
            try {
                val interpreter = Interpreter(model, options)
                interpreter.allocateTensors()
                return LiteRtSession(interpreter, delegates)
            } catch (e: Exception) {
                delegates.forEach { it.close() }
                throw e
            }
        }

        private fun spec(tensor: Tensor): TensorSpec {
            val type = when (tensor.dataType()) {
                DataType.FLOAT32 -> TensorType.FLOAT32
                DataType.INT8 -> TensorType.INT8
                DataType.UINT8 -> TensorType.UINT8
                else -> throw IllegalArgumentException("tensor ${tensor.name()} has type ${tensor.dataType()}; " +
                    "the demo handles float32, int8 and uint8")
            }
            val quantization = if (type == TensorType.FLOAT32) null else tensor.quantizationParams().let {
                Quantization(it.scale, it.zeroPoint)
            }
            return TensorSpec(tensor.shape(), type, quantization)
        }
    }
}
