package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import org.junit.Test;

public class ExifOrientationTest {
    /**
     * Source, 3 wide and 2 high:
     * <pre>
     * 1 2 3
     * 4 5 6
     * </pre>
     */
    private static final ArgbImage SOURCE = new ArgbImage(new int[] {1, 2, 3, 4, 5, 6}, 3, 2);

    private static void assertImage(int width, int height, int[] pixels, ArgbImage actual) {
        assertEquals(width, actual.width());
        assertEquals(height, actual.height());
        assertArrayEquals(pixels, actual.pixels());
    }

    @Test
    public void normalAndUnknownTagsKeepTheImage() {
        assertSame(SOURCE, ExifOrientation.apply(SOURCE, ExifOrientation.NORMAL));
        assertSame(SOURCE, ExifOrientation.apply(SOURCE, 0));
        assertSame(SOURCE, ExifOrientation.apply(SOURCE, 9));
    }

    @Test
    public void flipsAndHalfTurn() {
        assertImage(3, 2, new int[] {3, 2, 1, 6, 5, 4}, ExifOrientation.apply(SOURCE, ExifOrientation.FLIP_HORIZONTAL));
        assertImage(3, 2, new int[] {6, 5, 4, 3, 2, 1}, ExifOrientation.apply(SOURCE, ExifOrientation.ROTATE_180));
        assertImage(3, 2, new int[] {4, 5, 6, 1, 2, 3}, ExifOrientation.apply(SOURCE, ExifOrientation.FLIP_VERTICAL));
    }

    @Test
    public void quarterTurnsSwapTheSides() {
        // Rotated 90 degrees clockwise: the left column (1, 4) becomes the top row read right to left.
        assertImage(2, 3, new int[] {4, 1, 5, 2, 6, 3}, ExifOrientation.apply(SOURCE, ExifOrientation.ROTATE_90));
        assertImage(2, 3, new int[] {3, 6, 2, 5, 1, 4}, ExifOrientation.apply(SOURCE, ExifOrientation.ROTATE_270));
        assertImage(2, 3, new int[] {1, 4, 2, 5, 3, 6}, ExifOrientation.apply(SOURCE, ExifOrientation.TRANSPOSE));
        assertImage(2, 3, new int[] {6, 3, 5, 2, 4, 1}, ExifOrientation.apply(SOURCE, ExifOrientation.TRANSVERSE));
    }

    @Test
    public void rotatingFourTimesGivesTheOriginalBack() {
        ArgbImage img = SOURCE;
        for (int i = 0; i < 4; i++) {
            img = ExifOrientation.apply(img, ExifOrientation.ROTATE_90);
        }
        assertImage(3, 2, SOURCE.pixels(), img);
    }
}
