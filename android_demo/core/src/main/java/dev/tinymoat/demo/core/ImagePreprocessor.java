package dev.tinymoat.demo.core;

import java.nio.ByteBuffer;

/**
 * Turns ARGB pixels into the classifier's input tensor: optional centre crop,
 * bilinear resize, per-channel normalisation, then float32 or quantized int8/uint8
 * values in NHWC order with channels R, G, B (batch of one).
 *
 * <p>Resizing samples at pixel centres ({@code src = (dst + 0.5) * scale - 0.5},
 * clamped at the borders), the convention of {@code tf.image.resize(..., "bilinear")}
 * without antialiasing. The crop and the resize happen in one pass, so a crop with a
 * fractional border costs nothing extra. Interpolated values stay in float and are
 * not rounded back to 8 bits. Alpha is ignored.
 */
public final class ImagePreprocessor {
    private final int width;
    private final int height;
    private final Normalization normalization;
    private final double cropFraction;
    private final TensorType type;
    private final Quantization quantization;

    private ImagePreprocessor(Builder b) {
        this.width = b.width;
        this.height = b.height;
        this.normalization = b.normalization;
        this.cropFraction = b.cropFraction;
        this.type = b.type;
        this.quantization = b.quantization;
    }

    /** A preprocessor for a model input of {@code width x height} pixels. */
    public static Builder builder(int width, int height) {
        return new Builder(width, height);
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public TensorType type() {
        return type;
    }

    /** Bytes that {@link #writeTo} puts into the buffer. */
    public int outputBytes() {
        return width * height * 3 * type.bytesPerElement();
    }

    /** Normalised float values, NHWC (batch of one), {@code height * width * 3} long. */
    public float[] normalizedPixels(ArgbImage source) {
        double[] region = sourceRegion(source.width(), source.height());
        Axis xs = Axis.sample(region[0], region[2], width, source.width());
        Axis ys = Axis.sample(region[1], region[3], height, source.height());
        int[] px = source.pixels();
        int stride = source.width();
        float[] out = new float[width * height * 3];
        int o = 0;
        for (int y = 0; y < height; y++) {
            int row0 = ys.lo[y] * stride;
            int row1 = ys.hi[y] * stride;
            float fy = ys.frac[y];
            for (int x = 0; x < width; x++) {
                int p00 = px[row0 + xs.lo[x]];
                int p01 = px[row0 + xs.hi[x]];
                int p10 = px[row1 + xs.lo[x]];
                int p11 = px[row1 + xs.hi[x]];
                float fx = xs.frac[x];
                for (int c = 0; c < 3; c++) {
                    int shift = 16 - 8 * c;
                    float top = lerp((p00 >> shift) & 0xFF, (p01 >> shift) & 0xFF, fx);
                    float bottom = lerp((p10 >> shift) & 0xFF, (p11 >> shift) & 0xFF, fx);
                    out[o++] = normalization.apply(c, lerp(top, bottom, fy));
                }
            }
        }
        return out;
    }

    /**
     * Writes the input tensor at the buffer's position and advances it by
     * {@link #outputBytes()}. Floats use the buffer's byte order: give the
     * interpreter a direct buffer in native order.
     */
    public void writeTo(ArgbImage source, ByteBuffer destination) {
        if (destination.remaining() < outputBytes()) {
            throw new IllegalArgumentException("buffer has " + destination.remaining()
                    + " bytes left, the input tensor needs " + outputBytes());
        }
        float[] values = normalizedPixels(source);
        if (type == TensorType.FLOAT32) {
            for (float v : values) {
                destination.putFloat(v);
            }
        } else {
            for (float v : values) {
                destination.put((byte) quantization.quantize(v, type));
            }
        }
    }

    /**
     * The part of the source that is resized to the input: {x, y, width, height} in
     * pixels, possibly fractional.
     */
    double[] sourceRegion(int sourceWidth, int sourceHeight) {
        if (cropFraction == 0) {
            return new double[] {0, 0, sourceWidth, sourceHeight};
        }
        double targetAspect = (double) width / height;
        double w = sourceWidth;
        double h = sourceHeight;
        if (w / h > targetAspect) {
            w = h * targetAspect;
        } else {
            h = w / targetAspect;
        }
        w *= cropFraction;
        h *= cropFraction;
        return new double[] {(sourceWidth - w) / 2, (sourceHeight - h) / 2, w, h};
    }

    private static float lerp(float a, float b, float t) {
        return a + (b - a) * t;
    }

    /** Precomputed neighbours and weights along one axis. */
    private static final class Axis {
        final int[] lo;
        final int[] hi;
        final float[] frac;

        private Axis(int n) {
            lo = new int[n];
            hi = new int[n];
            frac = new float[n];
        }

        static Axis sample(double start, double length, int outSize, int inSize) {
            Axis a = new Axis(outSize);
            double scale = length / outSize;
            for (int i = 0; i < outSize; i++) {
                double s = start + (i + 0.5) * scale - 0.5;
                s = Math.max(0, Math.min(inSize - 1, s));
                int lo = (int) Math.floor(s);
                a.lo[i] = lo;
                a.hi[i] = Math.min(lo + 1, inSize - 1);
                a.frac[i] = (float) (s - lo);
            }
            return a;
        }
    }

    public static final class Builder {
        private final int width;
        private final int height;
        private Normalization normalization = Normalization.IMAGENET;
        private double cropFraction = 0;
        private TensorType type = TensorType.FLOAT32;
        private Quantization quantization;

        private Builder(int width, int height) {
            if (width <= 0 || height <= 0) {
                throw new IllegalArgumentException("input size must be positive, got " + width + "x" + height);
            }
            this.width = width;
            this.height = height;
        }

        public Builder normalization(Normalization normalization) {
            if (normalization == null) {
                throw new IllegalArgumentException("normalization is required (use Normalization.NONE)");
            }
            this.normalization = normalization;
            return this;
        }

        /**
         * Crops the largest centred region with the input's aspect ratio, shrunk by
         * {@code fraction} (1.0 keeps all of it; 0.875 is the usual ImageNet eval crop),
         * instead of stretching the whole image.
         */
        public Builder centerCrop(double fraction) {
            if (!(fraction > 0 && fraction <= 1)) {
                throw new IllegalArgumentException("crop fraction must be in (0, 1], got " + fraction);
            }
            this.cropFraction = fraction;
            return this;
        }

        /** Stretches the whole image to the input size (the default). */
        public Builder stretch() {
            this.cropFraction = 0;
            return this;
        }

        public Builder float32() {
            this.type = TensorType.FLOAT32;
            this.quantization = null;
            return this;
        }

        /** Quantized int8 or uint8 input with the tensor's scale and zero point. */
        public Builder quantized(TensorType type, Quantization quantization) {
            if (!type.isQuantized() || quantization == null) {
                throw new IllegalArgumentException("quantized input needs INT8 or UINT8 and its quantization");
            }
            this.type = type;
            this.quantization = quantization;
            return this;
        }

        public ImagePreprocessor build() {
            return new ImagePreprocessor(this);
        }
    }
}
