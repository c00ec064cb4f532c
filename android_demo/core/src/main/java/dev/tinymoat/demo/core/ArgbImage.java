package dev.tinymoat.demo.core;

/**
 * An image as packed {@code 0xAARRGGBB} ints in row-major order: the layout that
 * Android's {@code Bitmap.getPixels(pixels, 0, width, 0, 0, width, height)} fills,
 * so the Android layer hands pixels over without converting them.
 *
 * <p>The array is shared, not copied: a decoded photo can be tens of megabytes.
 */
public final class ArgbImage {
    private final int[] pixels;
    private final int width;
    private final int height;

    public ArgbImage(int[] pixels, int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
        }
        if (pixels == null || pixels.length != (long) width * height) {
            throw new IllegalArgumentException("expected " + ((long) width * height) + " pixels for "
                    + width + "x" + height + ", got " + (pixels == null ? "null" : pixels.length));
        }
        this.pixels = pixels;
        this.width = width;
        this.height = height;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** The backing array, row-major, {@code width * height} long. */
    public int[] pixels() {
        return pixels;
    }

    public int pixel(int x, int y) {
        return pixels[y * width + x];
    }

    public static int red(int argb) {
        return (argb >> 16) & 0xFF;
    }

    public static int green(int argb) {
        return (argb >> 8) & 0xFF;
    }

    public static int blue(int argb) {
        return argb & 0xFF;
    }

    public static int argb(int alpha, int red, int green, int blue) {
        return (alpha & 0xFF) << 24 | (red & 0xFF) << 16 | (green & 0xFF) << 8 | (blue & 0xFF);
    }
}
