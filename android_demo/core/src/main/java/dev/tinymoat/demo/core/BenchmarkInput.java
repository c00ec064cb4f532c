package dev.tinymoat.demo.core;

/**
 * The image the benchmark feeds the model: a fixed colour gradient, so every run of
 * every device times the same input without needing a photo.
 */
public final class BenchmarkInput {
    private BenchmarkInput() {
    }

    /** Red grows left to right, green top to bottom, blue is their mean; opaque. */
    public static ArgbImage gradient(int width, int height) {
        int[] pixels = new int[width * height];
        for (int y = 0; y < height; y++) {
            int green = height == 1 ? 0 : 255 * y / (height - 1);
            for (int x = 0; x < width; x++) {
                int red = width == 1 ? 0 : 255 * x / (width - 1);
                pixels[y * width + x] = ArgbImage.argb(255, red, green, (red + green) / 2);
            }
        }
        return new ArgbImage(pixels, width, height);
    }
}
