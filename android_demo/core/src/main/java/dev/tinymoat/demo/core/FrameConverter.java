package dev.tinymoat.demo.core;

/**
 * Camera frame to model input: turns the frame upright, takes the centred region with
 * the model input's aspect ratio (shrunk by the crop fraction), and returns it as an
 * {@link ArgbImage}, which the classifier's {@link ImagePreprocessor} then resizes,
 * normalises and quantizes exactly as it does for a picked photo (the region already
 * has the input's aspect ratio, so the preprocessor's own centre crop, if it has one,
 * trims a fraction of a pixel at most).
 *
 * <p>A camera frame is usually several times the model's size, so the region is
 * reduced here by an integer factor ({@link #step}) with a box average of each
 * {@code step x step} block: every camera pixel counts (no aliasing), and the
 * result is still at least the model's size, which the bilinear resize then meets.
 * Only the region is converted; the rest of the frame is never read.
 */
public final class FrameConverter {
    private final int width;
    private final int height;
    private final double cropFraction;

    /**
     * @param width the model input's width in pixels
     * @param height the model input's height
     * @param cropFraction 1.0 for the largest centred region with the input's aspect
     *     ratio; smaller values zoom in (0.875 is the usual ImageNet evaluation crop)
     */
    public FrameConverter(int width, int height, double cropFraction) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("input size must be positive, got " + width + "x" + height);
        }
        if (!(cropFraction > 0 && cropFraction <= 1)) {
            throw new IllegalArgumentException("crop fraction must be in (0, 1], got " + cropFraction);
        }
        this.width = width;
        this.height = height;
        this.cropFraction = cropFraction;
    }

    /** For a preprocessor: same size, and the crop that {@link #toImage} applies. */
    public static FrameConverter forPreprocessor(ImagePreprocessor preprocessor, double cropFraction) {
        return new FrameConverter(preprocessor.width(), preprocessor.height(), cropFraction);
    }

    /**
     * The region of the upright picture that becomes the model input, as
     * {x, y, width, height} in whole upright pixels, already trimmed to a multiple of
     * the box step and centred.
     */
    public int[] region(int uprightWidth, int uprightHeight) {
        double targetAspect = (double) width / height;
        double w = uprightWidth;
        double h = uprightHeight;
        if (w / h > targetAspect) {
            w = h * targetAspect;
        } else {
            h = w / targetAspect;
        }
        int rw = Math.max(1, Math.min(uprightWidth, (int) Math.round(w * cropFraction)));
        int rh = Math.max(1, Math.min(uprightHeight, (int) Math.round(h * cropFraction)));
        int s = step(rw, rh);
        rw = rw / s * s;
        rh = rh / s * s;
        return new int[] {(uprightWidth - rw) / 2, (uprightHeight - rh) / 2, rw, rh};
    }

    /** The box-average factor for a region: the largest that keeps it at least the input's size. */
    public int step(int regionWidth, int regionHeight) {
        return Math.max(1, Math.min(regionWidth / width, regionHeight / height));
    }

    /** The upright, cropped and box-reduced picture: what the model sees before resizing. */
    public ArgbImage toImage(CameraFrame frame) {
        int[] r = region(frame.uprightWidth(), frame.uprightHeight());
        int s = step(r[2], r[3]);
        int outW = r[2] / s;
        int outH = r[3] / s;
        int[] out = new int[outW * outH];
        int area = s * s;
        int half = area / 2;
        for (int oy = 0; oy < outH; oy++) {
            int y0 = r[1] + oy * s;
            for (int ox = 0; ox < outW; ox++) {
                int x0 = r[0] + ox * s;
                int argb;
                if (s == 1) {
                    argb = frame.uprightPixel(x0, y0);
                } else {
                    int red = 0;
                    int green = 0;
                    int blue = 0;
                    for (int dy = 0; dy < s; dy++) {
                        for (int dx = 0; dx < s; dx++) {
                            int p = frame.uprightPixel(x0 + dx, y0 + dy);
                            red += ArgbImage.red(p);
                            green += ArgbImage.green(p);
                            blue += ArgbImage.blue(p);
                        }
                    }
                    argb = ArgbImage.argb(255, (red + half) / area, (green + half) / area, (blue + half) / area);
                }
                out[oy * outW + ox] = argb;
            }
        }
        return new ArgbImage(out, outW, outH);
    }
}
