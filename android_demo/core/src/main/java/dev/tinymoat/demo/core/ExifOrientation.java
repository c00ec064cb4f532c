package dev.tinymoat.demo.core;

/**
 * Puts camera photos upright: applies the EXIF orientation tag (1-8, as
 * {@code ExifInterface.TAG_ORIENTATION} reports it) to the decoded pixels, so the
 * classifier sees what the user saw.
 */
public final class ExifOrientation {
    public static final int NORMAL = 1;
    public static final int FLIP_HORIZONTAL = 2;
    public static final int ROTATE_180 = 3;
    public static final int FLIP_VERTICAL = 4;
    public static final int TRANSPOSE = 5;
    public static final int ROTATE_90 = 6;
    public static final int TRANSVERSE = 7;
    public static final int ROTATE_270 = 8;

    private ExifOrientation() {
    }

    /** The upright image; the same instance for {@link #NORMAL} and unknown tags. */
    public static ArgbImage apply(ArgbImage image, int orientation) {
        if (orientation < FLIP_HORIZONTAL || orientation > ROTATE_270) {
            return image;
        }
        int w = image.width();
        int h = image.height();
        boolean swap = orientation >= TRANSPOSE;
        int outW = swap ? h : w;
        int outH = swap ? w : h;
        int[] src = image.pixels();
        int[] out = new int[src.length];
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < outW; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case FLIP_HORIZONTAL: sx = w - 1 - x; sy = y; break;
                    case ROTATE_180: sx = w - 1 - x; sy = h - 1 - y; break;
                    case FLIP_VERTICAL: sx = x; sy = h - 1 - y; break;
                    case TRANSPOSE: sx = y; sy = x; break;
                    case ROTATE_90: sx = y; sy = h - 1 - x; break;
                    case TRANSVERSE: sx = w - 1 - y; sy = h - 1 - x; break;
                    default: sx = w - 1 - y; sy = x; break;   // ROTATE_270
                }
                out[y * outW + x] = src[sy * w + sx];
            }
        }
        return new ArgbImage(out, outW, outH);
    }
}
