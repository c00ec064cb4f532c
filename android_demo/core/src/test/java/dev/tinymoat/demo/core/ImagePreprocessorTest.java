package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;

public class ImagePreprocessorTest {
    private static final float EPS = 1e-5f;

    /** A one-row image whose red channel holds the given values (green = blue = 0). */
    private static ArgbImage redRow(int... reds) {
        int[] px = new int[reds.length];
        for (int i = 0; i < reds.length; i++) {
            px[i] = ArgbImage.argb(255, reds[i], 0, 0);
        }
        return new ArgbImage(px, reds.length, 1);
    }

    private static float[] redChannel(float[] nhwc) {
        float[] out = new float[nhwc.length / 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = nhwc[3 * i];
        }
        return out;
    }

    private static ImagePreprocessor.Builder raw(int w, int h) {
        return ImagePreprocessor.builder(w, h).normalization(Normalization.NONE);
    }

    @Test
    public void sameSizeKeepsPixelsInNhwcRgbOrder() {
        ArgbImage img = new ArgbImage(new int[] {
            ArgbImage.argb(255, 1, 2, 3), ArgbImage.argb(255, 4, 5, 6),
            ArgbImage.argb(255, 7, 8, 9), ArgbImage.argb(255, 10, 11, 12)}, 2, 2);
        float[] out = raw(2, 2).build().normalizedPixels(img);
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, out, 0f);
    }

    @Test
    public void alphaIsIgnored() {
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(0, 10, 20, 30)}, 1, 1);
        assertArrayEquals(new float[] {10, 20, 30}, raw(1, 1).build().normalizedPixels(img), 0f);
    }

    @Test
    public void upsamplingInterpolatesAtPixelCentres() {
        // Source centres at 0 and 1; destination centres map to -0.25, 0.25, 0.75, 1.25 (clamped).
        float[] out = redChannel(raw(4, 1).build().normalizedPixels(redRow(0, 100)));
        assertArrayEquals(new float[] {0, 25, 75, 100}, out, EPS);
    }

    @Test
    public void downsamplingByTwoAveragesNeighbours() {
        float[] out = redChannel(raw(2, 1).build().normalizedPixels(redRow(10, 20, 30, 50)));
        assertArrayEquals(new float[] {15, 40}, out, EPS);
    }

    @Test
    public void verticalInterpolationUsesRows() {
        ArgbImage column = new ArgbImage(new int[] {
            ArgbImage.argb(255, 0, 0, 0), ArgbImage.argb(255, 0, 200, 0)}, 1, 2);
        float[] out = raw(1, 4).build().normalizedPixels(column);
        float[] green = {out[1], out[4], out[7], out[10]};
        assertArrayEquals(new float[] {0, 50, 150, 200}, green, EPS);
    }

    @Test
    public void imagenetNormalisationPerChannel() {
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(255, 255, 128, 0)}, 1, 1);
        float[] out = ImagePreprocessor.builder(1, 1).normalization(Normalization.IMAGENET).build()
                .normalizedPixels(img);
        assertArrayEquals(new float[] {
            (255f - 123.675f) / 58.395f, (128f - 116.28f) / 57.12f, (0f - 103.53f) / 57.375f}, out, EPS);
    }

    @Test
    public void stretchUsesTheWholeImage() {
        ImagePreprocessor p = raw(2, 2).build();
        assertArrayEquals(new double[] {0, 0, 4, 2}, p.sourceRegion(4, 2), 0);
    }

    @Test
    public void centreCropTakesTheMiddleOfAWideImage() {
        // 4x1 wide image, 1x1 target: the centred square is column 1.5 +- 0.5 -> between columns 1 and 2.
        float[] out = redChannel(raw(1, 1).centerCrop(1.0).build().normalizedPixels(redRow(0, 40, 80, 255)));
        assertArrayEquals(new float[] {60}, out, EPS);
        // 4x2 image into 2x2: the square region is columns 1..2 exactly.
        int[] px = new int[8];
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 4; x++) {
                px[y * 4 + x] = ArgbImage.argb(255, 10 * x, 0, 0);
            }
        }
        float[] square = redChannel(raw(2, 2).centerCrop(1.0).build().normalizedPixels(new ArgbImage(px, 4, 2)));
        assertArrayEquals(new float[] {10, 20, 10, 20}, square, EPS);
    }

    @Test
    public void centreCropRegionForTallImagesAndFractions() {
        ImagePreprocessor square = raw(224, 224).centerCrop(1.0).build();
        assertArrayEquals(new double[] {0, 100, 300, 300}, square.sourceRegion(300, 500), 1e-9);
        ImagePreprocessor eval = raw(224, 224).centerCrop(0.5).build();
        assertArrayEquals(new double[] {100, 100, 200, 200}, eval.sourceRegion(400, 400), 1e-9);
        ImagePreprocessor wide = raw(4, 2).centerCrop(1.0).build();
        assertArrayEquals(new double[] {0, 25, 100, 50}, wide.sourceRegion(100, 100), 1e-9);
    }

    @Test
    public void float32IsWrittenInTheBuffersByteOrder() {
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(255, 1, 2, 3)}, 1, 1);
        ImagePreprocessor p = raw(1, 1).build();
        for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
            ByteBuffer buf = ByteBuffer.allocate(12).order(order);
            p.writeTo(img, buf);
            assertEquals(12, buf.position());
            assertEquals(1f, buf.getFloat(0), 0f);
            assertEquals(2f, buf.getFloat(4), 0f);
            assertEquals(3f, buf.getFloat(8), 0f);
        }
    }

    @Test
    public void int8InputIsQuantizedWithScaleAndZeroPoint() {
        // Normalised values with NONE are the raw 0..255 values; scale 2, zero point -128.
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(255, 0, 3, 255)}, 1, 1);
        ImagePreprocessor p = raw(1, 1).quantized(TensorType.INT8, new Quantization(2f, -128)).build();
        assertEquals(3, p.outputBytes());
        ByteBuffer buf = ByteBuffer.allocate(5);
        buf.put((byte) 99);
        p.writeTo(img, buf);
        assertEquals(4, buf.position());
        assertEquals(99, buf.get(0));
        assertEquals(-128, buf.get(1));          // 0 / 2 - 128
        assertEquals(-126, buf.get(2));          // round(1.5) = 2 -> -126
        assertEquals(0, buf.get(3));             // round(127.5) = 128 -> 0
    }

    @Test
    public void int8InputWithImagenetNormalisation() {
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(255, 255, 116, 0)}, 1, 1);
        Quantization q = new Quantization(0.0186584f, -14);
        ImagePreprocessor p = ImagePreprocessor.builder(1, 1).quantized(TensorType.INT8, q).build();
        ByteBuffer buf = ByteBuffer.allocate(3);
        p.writeTo(img, buf);
        // (x - mean) / std = 2.2489, -0.0049, -1.8044; / scale = 120.53, -0.26, -96.71; + zero point.
        assertEquals(107, buf.get(0));
        assertEquals(-14, buf.get(1));
        assertEquals(-111, buf.get(2));
    }

    @Test
    public void uint8InputUsesTheUnsignedRange() {
        ArgbImage img = new ArgbImage(new int[] {ArgbImage.argb(255, 0, 200, 255)}, 1, 1);
        ImagePreprocessor p = raw(1, 1).quantized(TensorType.UINT8, new Quantization(1f, 0)).build();
        ByteBuffer buf = ByteBuffer.allocate(3);
        p.writeTo(img, buf);
        assertEquals(0, buf.get(0) & 0xFF);
        assertEquals(200, buf.get(1) & 0xFF);
        assertEquals(255, buf.get(2) & 0xFF);
    }

    @Test
    public void tooSmallBufferIsRejected() {
        ImagePreprocessor p = raw(2, 2).build();
        assertEquals(48, p.outputBytes());
        ArgbImage img = new ArgbImage(new int[4], 2, 2);
        assertThrows(IllegalArgumentException.class, () -> p.writeTo(img, ByteBuffer.allocate(47)));
    }

    @Test
    public void invalidSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> ImagePreprocessor.builder(0, 224));
        assertThrows(IllegalArgumentException.class, () -> raw(2, 2).centerCrop(0));
        assertThrows(IllegalArgumentException.class, () -> raw(2, 2).centerCrop(1.5));
        assertThrows(IllegalArgumentException.class,
                () -> raw(2, 2).quantized(TensorType.FLOAT32, new Quantization(1f, 0)));
        assertThrows(IllegalArgumentException.class, () -> new ArgbImage(new int[3], 2, 2));
    }
}
