package dev.tinymoat.demo.core;

import java.nio.ByteBuffer;

/** Reads a classifier's output tensor into real-valued scores. */
public final class OutputScores {
    private OutputScores() {
    }

    /**
     * The first {@code count} elements of an output buffer (from index 0, whatever
     * its position), dequantized when the tensor is int8 or uint8. Float32 values are
     * read in the buffer's byte order.
     */
    public static float[] read(ByteBuffer buffer, int count, TensorType type, Quantization quantization) {
        if ((long) count * type.bytesPerElement() > buffer.capacity()) {
            throw new IllegalArgumentException("buffer holds " + buffer.capacity() + " bytes, "
                    + count + " " + type + " values need " + (long) count * type.bytesPerElement());
        }
        if (type.isQuantized() && quantization == null) {
            throw new IllegalArgumentException(type + " output needs its quantization");
        }
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            switch (type) {
                case FLOAT32:
                    out[i] = buffer.getFloat(i * 4);
                    break;
                case INT8:
                    out[i] = quantization.dequantize(buffer.get(i));
                    break;
                case UINT8:
                    out[i] = quantization.dequantize(buffer.get(i) & 0xFF);
                    break;
                default:
                    throw new AssertionError(type);
            }
        }
        return out;
    }

    /**
     * True when the scores already look like a softmax output (all in [0, 1], summing
     * to 1 within the slack that 8-bit quantization leaves), so that no softmax is
     * applied on top.
     */
    public static boolean isProbabilityDistribution(float[] scores) {
        double sum = 0;
        for (float s : scores) {
            if (!(s >= 0f && s <= 1f)) {
                return false;
            }
            sum += s;
        }
        return scores.length > 0 && Math.abs(sum - 1.0) <= 0.05;
    }
}
