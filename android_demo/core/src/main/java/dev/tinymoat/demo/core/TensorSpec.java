package dev.tinymoat.demo.core;

import java.util.Arrays;

/**
 * Shape, element type and quantization of one model tensor, copied from the
 * interpreter's {@code Tensor} by the Android layer.
 */
public final class TensorSpec {
    private final int[] shape;
    private final TensorType type;
    private final Quantization quantization;

    /** @param quantization required for int8/uint8 tensors, ignored for float32 */
    public TensorSpec(int[] shape, TensorType type, Quantization quantization) {
        if (shape == null || shape.length == 0 || type == null) {
            throw new IllegalArgumentException("tensor needs a shape and a type");
        }
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor dimensions must be positive, got " + Arrays.toString(shape));
            }
        }
        if (type.isQuantized() && quantization == null) {
            throw new IllegalArgumentException(type + " tensor needs its scale and zero point");
        }
        this.shape = shape.clone();
        this.type = type;
        this.quantization = type.isQuantized() ? quantization : null;
    }

    public int[] shape() {
        return shape.clone();
    }

    public TensorType type() {
        return type;
    }

    public Quantization quantization() {
        return quantization;
    }

    public int elementCount() {
        int n = 1;
        for (int d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public int byteCount() {
        return Math.multiplyExact(elementCount(), type.bytesPerElement());
    }

    /** {height, width} of an NHWC image input with batch 1 and 3 channels. */
    public int[] imageSize() {
        if (shape.length != 4 || shape[0] != 1 || shape[3] != 3) {
            throw new IllegalArgumentException("expected an image input of shape [1, height, width, 3], got "
                    + Arrays.toString(shape));
        }
        return new int[] {shape[1], shape[2]};
    }

    @Override
    public String toString() {
        return Arrays.toString(shape) + " " + type + (quantization == null ? "" : " " + quantization);
    }
}
