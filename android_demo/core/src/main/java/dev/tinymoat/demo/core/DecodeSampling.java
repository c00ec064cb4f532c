package dev.tinymoat.demo.core;

/**
 * How much to subsample a photo while decoding ({@code BitmapFactory.Options.inSampleSize}):
 * a 12-megapixel camera frame would take 48 MB as ARGB ints, and the model needs 224x224.
 */
public final class DecodeSampling {
    private DecodeSampling() {
    }

    /**
     * The largest power of two that keeps both decoded sides at least as large as the
     * target's, so the final bilinear resize still shrinks (or keeps) the image.
     */
    public static int inSampleSize(int sourceWidth, int sourceHeight, int targetWidth, int targetHeight) {
        if (sourceWidth <= 0 || sourceHeight <= 0 || targetWidth <= 0 || targetHeight <= 0) {
            throw new IllegalArgumentException("sizes must be positive");
        }
        int sample = 1;
        while (sourceWidth / (sample * 2) >= targetWidth && sourceHeight / (sample * 2) >= targetHeight) {
            sample *= 2;
        }
        return sample;
    }
}
