package dev.tinymoat.demo.core;

/**
 * Affine quantization of one tensor: {@code real = scale * (q - zeroPoint)}.
 *
 * <p>Quantizing follows the exporter's own reference ({@code quantize} in
 * {@code export/tflite.py}, {@code np.round(x / scale + zero_point)} on float32 values,
 * then clipped), so the app feeds a model exactly what the export validation fed it:
 * float32 arithmetic, rounding half to even.
 */
public final class Quantization {
    private final float scale;
    private final int zeroPoint;

    public Quantization(float scale, int zeroPoint) {
        if (!(scale > 0f) || Float.isInfinite(scale)) {
            throw new IllegalArgumentException("quantization scale must be a positive finite number, got " + scale);
        }
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    public float scale() {
        return scale;
    }

    public int zeroPoint() {
        return zeroPoint;
    }

    public int quantize(float real, TensorType type) {
        if (!type.isQuantized()) {
            throw new IllegalArgumentException(type + " is not a quantized type");
        }
        if (Float.isNaN(real)) {
            throw new IllegalArgumentException("cannot quantize NaN");
        }
        float shifted = real / scale + zeroPoint;   // float32, as NumPy computes it for float32 input
        double q = Math.rint(shifted);               // half to even, like np.round
        return (int) Math.max(type.minValue(), Math.min(type.maxValue(), q));
    }

    public float dequantize(int q) {
        return scale * (q - zeroPoint);
    }

    @Override
    public String toString() {
        return "Quantization(scale=" + scale + ", zeroPoint=" + zeroPoint + ")";
    }
}
