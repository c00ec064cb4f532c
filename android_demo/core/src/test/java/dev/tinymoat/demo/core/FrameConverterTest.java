package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;

public class FrameConverterTest {
    @Test
    public void landscapeFrameGivesTheCentredSquareReducedByTwo() {
        FrameConverter c = new FrameConverter(224, 224, 1.0);
        assertArrayEquals(new int[] {80, 0, 480, 480}, c.region(640, 480));
        assertEquals(2, c.step(480, 480));
    }

    @Test
    public void portraitUprightFrameIsCroppedVertically() {
        FrameConverter c = new FrameConverter(224, 224, 1.0);
        assertArrayEquals(new int[] {0, 80, 480, 480}, c.region(480, 640));
    }

    @Test
    public void cropFractionZoomsInAndKeepsTheRegionAtLeastTheInputSize() {
        FrameConverter c = new FrameConverter(224, 224, 0.875);
        assertArrayEquals(new int[] {110, 30, 420, 420}, c.region(640, 480));   // 420 / 224: step 1
        assertEquals(1, c.step(420, 420));
    }

    @Test
    public void nonSquareInputKeepsItsAspectAndTheRegionIsTrimmedToTheStep() {
        FrameConverter c = new FrameConverter(4, 2, 1.0);
        // 10x10 -> 10x5 of aspect 2, step min(10/4, 5/2) = 2 -> 10x4, centred.
        assertArrayEquals(new int[] {0, 3, 10, 4}, c.region(10, 10));
    }

    @Test
    public void frameSmallerThanTheInputIsUsedWhole() {
        FrameConverter c = new FrameConverter(224, 224, 1.0);
        assertArrayEquals(new int[] {0, 0, 100, 100}, c.region(100, 100));
        assertEquals(1, c.step(100, 100));
    }

    @Test
    public void invalidSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new FrameConverter(0, 224, 1.0));
        assertThrows(IllegalArgumentException.class, () -> new FrameConverter(224, 224, 0.0));
        assertThrows(IllegalArgumentException.class, () -> new FrameConverter(224, 224, 1.5));
    }

    @Test
    public void blocksAreAveragedWithRounding() {
        // 4x4 frame, 2x2 input: each output pixel is the mean of one 2x2 block.
        int[] px = new int[16];
        for (int i = 0; i < 16; i++) {
            px[i] = ArgbImage.argb(255, i * 10, 255 - i, i % 2 == 0 ? 0 : 1);
        }
        ArgbImage out = new FrameConverter(2, 2, 1.0).toImage(FrameFixtures.rgba(px, 4, 4, 4, 0));
        assertEquals(2, out.width());
        assertEquals(2, out.height());
        // Block (0, 0) holds indices 0, 1, 4, 5: red 0+10+40+50 = 100 / 4 = 25, green 255-2.5 -> 252.5
        // rounds half up to 253, blue (0+1+0+1)/4 = 0.5 -> 1.
        assertEquals(ArgbImage.argb(255, 25, 253, 1), out.pixel(0, 0));
        // Block (1, 1) holds 10, 11, 14, 15: red 125, green 255 - 12.5 = 242.5 -> 243.
        assertEquals(ArgbImage.argb(255, 125, 243, 1), out.pixel(1, 1));
    }

    @Test
    public void onlyTheRegionIsReadAndRotationIsAppliedFirst() {
        // 6x2 sensor frame turned 90 degrees: upright 2x6; a 1x1 input takes the centred 2x2.
        int[] px = FrameFixtures.distinct(6, 2);
        CameraFrame frame = FrameFixtures.rgba(px, 6, 2, 0, 90);
        ArgbImage up = FrameFixtures.upright(frame);
        ArgbImage out = new FrameConverter(1, 1, 1.0).toImage(frame);
        assertEquals(1, out.width());
        int r = 0;
        int g = 0;
        int b = 0;
        for (int y = 2; y < 4; y++) {
            for (int x = 0; x < 2; x++) {
                r += ArgbImage.red(up.pixel(x, y));
                g += ArgbImage.green(up.pixel(x, y));
                b += ArgbImage.blue(up.pixel(x, y));
            }
        }
        assertEquals(ArgbImage.argb(255, (r + 2) / 4, (g + 2) / 4, (b + 2) / 4), out.pixel(0, 0));
        // Sensor columns 2 and 3 are the upright rows 2 and 3: red 20*2+1 and 20*3+1 averaged.
        assertEquals(51, ArgbImage.red(out.pixel(0, 0)));
        assertEquals(12, ArgbImage.green(out.pixel(0, 0)));   // rows 0 and 1: green 2 and 22
    }

    @Test
    public void rotatedYuvFrameBecomesTheUint8NhwcInputOfTheModel() {
        // 8x4 sensor frame, rotation 270: upright 4x8; a 2x2 uint8 input (raw pixels, scale 1)
        // takes the centred 4x4 region, reduced by two.
        int w = 8;
        int h = 4;
        int[] luma = new int[w * h];
        for (int i = 0; i < luma.length; i++) {
            luma[i] = 16 + 7 * i;
        }
        int[] cb = new int[4 * 2];
        int[] cr = new int[4 * 2];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = 128 + 5 * i;
            cr[i] = 128 - 4 * i;
        }
        CameraFrame frame = FrameFixtures.yuv(luma, cb, cr, w, h, 6, true, 270);
        TensorSpec input = new TensorSpec(new int[] {1, 2, 2, 3}, TensorType.UINT8, new Quantization(1f, 0));
        ImagePreprocessor pre = ImageClassifier.preprocessorFor(input, Normalization.NONE, 1.0);
        FrameConverter converter = FrameConverter.forPreprocessor(pre, 1.0);
        ByteBuffer tensor = ByteBuffer.allocate(pre.outputBytes()).order(ByteOrder.nativeOrder());
        pre.writeTo(converter.toImage(frame), tensor);

        ArgbImage up = FrameFixtures.upright(frame);
        assertEquals(4, up.width());
        assertEquals(8, up.height());
        byte[] expected = new byte[12];
        int o = 0;
        for (int oy = 0; oy < 2; oy++) {
            for (int ox = 0; ox < 2; ox++) {
                for (int c = 0; c < 3; c++) {
                    int sum = 0;
                    for (int dy = 0; dy < 2; dy++) {
                        for (int dx = 0; dx < 2; dx++) {
                            int p = up.pixel(2 * ox + dx, 2 + 2 * oy + dy);
                            sum += (p >> (16 - 8 * c)) & 0xFF;
                        }
                    }
                    expected[o++] = (byte) ((sum + 2) / 4);
                }
            }
        }
        assertArrayEquals(expected, tensor.array());
    }
}
