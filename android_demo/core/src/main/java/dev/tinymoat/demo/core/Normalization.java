package dev.tinymoat.demo.core;

import java.util.Arrays;
import java.util.Locale;

/**
 * Per-channel input normalisation in 0..255 units: {@code x_norm = (x - mean) / std},
 * channels in RGB order. The same numbers as {@code tinymoat/preprocess.py}.
 */
public final class Normalization {
    /** tiny-MOAT and MOAT-0/1 (ImageNet-1K checkpoints). */
    public static final Normalization IMAGENET = new Normalization(
            new float[] {123.675f, 116.28f, 103.53f},   // (0.485, 0.456, 0.406) * 255
            new float[] {58.395f, 57.12f, 57.375f});    // (0.229, 0.224, 0.225) * 255
    /** MOAT-2/3/4 ImageNet-22K checkpoints: (x - 127.5) / 127.5. */
    public static final Normalization INCEPTION = new Normalization(
            new float[] {127.5f, 127.5f, 127.5f}, new float[] {127.5f, 127.5f, 127.5f});
    /** For models that take raw 0..255 values and normalise inside the graph. */
    public static final Normalization NONE = new Normalization(
            new float[] {0f, 0f, 0f}, new float[] {1f, 1f, 1f});

    private final float[] mean;
    private final float[] std;

    private Normalization(float[] mean, float[] std) {
        this.mean = mean;
        this.std = std;
    }

    /**
     * Mean and std with one value (applied to all channels) or three (R, G, B), the
     * two shapes that TFLite's NormalizationOptions metadata allows.
     */
    public static Normalization of(float[] mean, float[] std) {
        float[] m = perChannel(mean, "mean");
        float[] s = perChannel(std, "std");
        for (int c = 0; c < 3; c++) {
            if (!(s[c] > 0f) || Float.isInfinite(s[c]) || Float.isNaN(m[c]) || Float.isInfinite(m[c])) {
                throw new IllegalArgumentException("invalid normalization mean=" + Arrays.toString(mean)
                        + " std=" + Arrays.toString(std) + ": std must be positive and values finite");
            }
        }
        return new Normalization(m, s);
    }

    /**
     * The normalisation a released checkpoint of {@code variant} was trained with
     * (docs REFERENCE "Input normalisation"): ImageNet statistics for tiny-MOAT and
     * MOAT-0/1, (x - 127.5) / 127.5 for the ImageNet-22K MOAT-2/3/4.
     */
    public static Normalization forVariant(String variant) {
        String v = variant == null ? "" : variant.toLowerCase(Locale.ROOT);
        if (v.equals("moat-2") || v.equals("moat-3") || v.equals("moat-4")) {
            return INCEPTION;
        }
        return IMAGENET;
    }

    /**
     * The model's own normalisation when its metadata has one (mean and std as read
     * from NormalizationOptions, or null), else the default for the variant.
     */
    public static Normalization fromMetadataOrVariant(float[] metadataMean, float[] metadataStd, String variant) {
        if (metadataMean != null && metadataStd != null) {
            return of(metadataMean, metadataStd);
        }
        return forVariant(variant);
    }

    public float mean(int channel) {
        return mean[channel];
    }

    public float std(int channel) {
        return std[channel];
    }

    public float apply(int channel, float value) {
        return (value - mean[channel]) / std[channel];
    }

    private static float[] perChannel(float[] values, String what) {
        if (values == null || (values.length != 1 && values.length != 3)) {
            throw new IllegalArgumentException(what + " needs 1 or 3 values, got "
                    + (values == null ? "null" : Arrays.toString(values)));
        }
        return values.length == 3 ? values.clone() : new float[] {values[0], values[0], values[0]};
    }

    @Override
    public String toString() {
        return "Normalization(mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + ")";
    }
}
