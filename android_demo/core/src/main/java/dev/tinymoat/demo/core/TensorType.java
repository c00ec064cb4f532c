package dev.tinymoat.demo.core;

/** The element types of image-classifier inputs and outputs that the demo handles. */
public enum TensorType {
    FLOAT32(4, 0, 0),
    INT8(1, -128, 127),
    UINT8(1, 0, 255);

    private final int bytes;
    private final int min;
    private final int max;

    TensorType(int bytes, int min, int max) {
        this.bytes = bytes;
        this.min = min;
        this.max = max;
    }

    public int bytesPerElement() {
        return bytes;
    }

    public boolean isQuantized() {
        return this != FLOAT32;
    }

    /** Smallest representable integer; only meaningful for quantized types. */
    public int minValue() {
        return min;
    }

    /** Largest representable integer; only meaningful for quantized types. */
    public int maxValue() {
        return max;
    }
}
