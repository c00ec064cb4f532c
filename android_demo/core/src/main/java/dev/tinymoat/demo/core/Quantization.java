package dev.tinymoat.demo.core;

/**
 * Affine quantization of one tensor: {@code real = scale * (q - zeroPoint)}.
 *
 * <p>Rounding follows TFLite's quantize kernel: divide in float, round half away
 * from zero, add the zero point, clamp to the integer type.
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
        double scaled = real / scale;
        double q = Math.copySign(Math.floor(Math.abs(scaled) + 0.5), scaled) + zeroPoint;
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
