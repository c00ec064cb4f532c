package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import org.junit.Test;

public class CameraFrameTest {
    private static final int W = 3;
    private static final int H = 2;
    private static final int[] PIXELS = FrameFixtures.distinct(W, H);

    private static int px(int x, int y) {
        return PIXELS[y * W + x];
    }

    @Test
    public void rotation0KeepsTheFrameAsItIs() {
        ArgbImage up = FrameFixtures.upright(FrameFixtures.rgba(PIXELS, W, H, 8, 0));
        assertEquals(3, up.width());
        assertEquals(2, up.height());
        assertArrayEquals(PIXELS, up.pixels());
    }

    @Test
    public void rotation90TurnsClockwise() {
        // Turned 90 degrees clockwise, the bottom-left pixel comes to the top left.
        ArgbImage up = FrameFixtures.upright(FrameFixtures.rgba(PIXELS, W, H, 8, 90));
        assertEquals(2, up.width());
        assertEquals(3, up.height());
        assertArrayEquals(new int[] {
            px(0, 1), px(0, 0),
            px(1, 1), px(1, 0),
            px(2, 1), px(2, 0)}, up.pixels());
    }

    @Test
    public void rotation180TurnsUpsideDown() {
        ArgbImage up = FrameFixtures.upright(FrameFixtures.rgba(PIXELS, W, H, 8, 180));
        assertArrayEquals(new int[] {
            px(2, 1), px(1, 1), px(0, 1),
            px(2, 0), px(1, 0), px(0, 0)}, up.pixels());
    }

    @Test
    public void rotation270TurnsCounterClockwise() {
        ArgbImage up = FrameFixtures.upright(FrameFixtures.rgba(PIXELS, W, H, 8, 270));
        assertEquals(2, up.width());
        assertEquals(3, up.height());
        assertArrayEquals(new int[] {
            px(2, 0), px(2, 1),
            px(1, 0), px(1, 1),
            px(0, 0), px(0, 1)}, up.pixels());
    }

    @Test
    public void rotationsAgreeWithTheExifRotationsOfTheSamePicture() {
        int[] pixels = FrameFixtures.distinct(5, 4);
        ArgbImage image = new ArgbImage(pixels, 5, 4);
        int[][] cases = {{90, ExifOrientation.ROTATE_90}, {180, ExifOrientation.ROTATE_180},
                         {270, ExifOrientation.ROTATE_270}};
        for (int[] c : cases) {
            ArgbImage expected = ExifOrientation.apply(image, c[1]);
            ArgbImage actual = FrameFixtures.upright(FrameFixtures.rgba(pixels, 5, 4, 4, c[0]));
            assertEquals(expected.width(), actual.width());
            assertArrayEquals("rotation " + c[0], expected.pixels(), actual.pixels());
        }
    }

    @Test
    public void rowPaddingIsSkippedAndAShortLastRowIsEnough() {
        for (int padding : new int[] {0, 1, 7, 64}) {
            assertArrayEquals(PIXELS, FrameFixtures.upright(FrameFixtures.rgba(PIXELS, W, H, padding, 0)).pixels());
        }
    }

    @Test
    public void aPlaneTooShortForTheFrameIsRejected() {
        int rowStride = 4 * W + 4;
        ByteBuffer shortByOne = ByteBuffer.allocate((H - 1) * rowStride + 4 * W - 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CameraFrame(
                CameraFrame.Format.RGBA_8888, W, H, new CameraFrame.Plane[] {
                    new CameraFrame.Plane(shortByOne, rowStride, 4)}, 0));
        assertTrue(e.getMessage(), e.getMessage().contains("need"));
        ByteBuffer exact = ByteBuffer.allocate((H - 1) * rowStride + 4 * W);
        new CameraFrame(CameraFrame.Format.RGBA_8888, W, H, new CameraFrame.Plane[] {
            new CameraFrame.Plane(exact, rowStride, 4)}, 0);
    }

    @Test
    public void aRowStrideShorterThanARowIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> new CameraFrame(CameraFrame.Format.RGBA_8888, W, H,
                new CameraFrame.Plane[] {new CameraFrame.Plane(ByteBuffer.allocate(100), 4 * W - 1, 4)}, 0));
    }

    @Test
    public void badRotationsFormatsAndCropsAreRejected() {
        CameraFrame.Plane[] one = {new CameraFrame.Plane(ByteBuffer.allocate(4 * W * H), 4 * W, 4)};
        assertThrows(IllegalArgumentException.class,
                () -> new CameraFrame(CameraFrame.Format.RGBA_8888, W, H, one, 45));
        assertThrows(IllegalArgumentException.class,
                () -> new CameraFrame(CameraFrame.Format.YUV_420_888, W, H, one, 0));
        assertThrows(IllegalArgumentException.class,
                () -> new CameraFrame(CameraFrame.Format.RGBA_8888, W, H, one, 0, 1, 0, W, H));
        assertThrows(IllegalArgumentException.class,
                () -> new CameraFrame.Plane(ByteBuffer.allocate(8), 0, 1));
    }

    @Test
    public void planesAreReadFromTheirPosition() {
        int rowStride = 4 * W;
        ByteBuffer buffer = ByteBuffer.allocate(10 + rowStride * H);
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                int o = 10 + y * rowStride + 4 * x;
                buffer.put(o, (byte) ArgbImage.red(px(x, y)));
                buffer.put(o + 1, (byte) ArgbImage.green(px(x, y)));
                buffer.put(o + 2, (byte) ArgbImage.blue(px(x, y)));
            }
        }
        buffer.position(10);
        CameraFrame frame = new CameraFrame(CameraFrame.Format.RGBA_8888, W, H, new CameraFrame.Plane[] {
            new CameraFrame.Plane(buffer, rowStride, 4)}, 0);
        assertArrayEquals(PIXELS, FrameFixtures.upright(frame).pixels());
    }

    @Test
    public void cropRectIsTheWholePicture() {
        int[] pixels = FrameFixtures.distinct(6, 4);
        CameraFrame.Plane plane = new CameraFrame.Plane(ByteBuffer.wrap(toRgbaBytes(pixels)), 24, 4);
        CameraFrame cropped = new CameraFrame(CameraFrame.Format.RGBA_8888, 6, 4, new CameraFrame.Plane[] {plane},
                90, 1, 1, 4, 2);
        assertEquals(2, cropped.uprightWidth());
        assertEquals(4, cropped.uprightHeight());
        // Upright (0, 0) of the crop is its bottom-left pixel: buffer (1, 2).
        assertEquals(pixels[2 * 6 + 1], cropped.uprightPixel(0, 0));
        assertEquals(pixels[1 * 6 + 1], cropped.uprightPixel(1, 0));
        assertEquals(pixels[2 * 6 + 4], cropped.uprightPixel(0, 3));
        assertEquals(pixels[1 * 6 + 4], cropped.uprightPixel(1, 3));
    }

    private static byte[] toRgbaBytes(int[] argb) {
        byte[] out = new byte[argb.length * 4];
        for (int i = 0; i < argb.length; i++) {
            out[4 * i] = (byte) ArgbImage.red(argb[i]);
            out[4 * i + 1] = (byte) ArgbImage.green(argb[i]);
            out[4 * i + 2] = (byte) ArgbImage.blue(argb[i]);
            out[4 * i + 3] = (byte) 255;
        }
        return out;
    }

    @Test
    public void yuvGreyHasNoColourAndColourFollowsFullRangeBt601() {
        assertEquals(ArgbImage.argb(255, 77, 77, 77), CameraFrame.yuvToArgb(77, 0, 0));
        // Y 100, Cb +50, Cr -30: R = 100 - 42.06, G = 100 - 17.21 + 21.42, B = 100 + 88.6
        assertEquals(ArgbImage.argb(255, 58, 104, 189), CameraFrame.yuvToArgb(100, 50, -30));
        // Clamped at both ends.
        assertEquals(ArgbImage.argb(255, 255, 121, 255), CameraFrame.yuvToArgb(255, 127, 127));
        assertEquals(ArgbImage.argb(255, 0, 135, 0), CameraFrame.yuvToArgb(0, -128, -128));
    }

    /** 5x3 luma (odd sizes: chroma is 3x2), chroma per 2x2 block. */
    private static final int YW = 5;
    private static final int YH = 3;
    private static final int[] LUMA = {
        10, 20, 30, 40, 50,
        60, 70, 80, 90, 100,
        110, 120, 130, 140, 150};
    private static final int[] CB = {128, 178, 100, 128, 90, 200};
    private static final int[] CR = {128, 98, 160, 128, 140, 60};

    private static int expectedYuv(int x, int y) {
        int c = (y / 2) * 3 + x / 2;
        return CameraFrame.yuvToArgb(LUMA[y * YW + x], CB[c] - 128, CR[c] - 128);
    }

    @Test
    public void yuvPlanarAndInterleavedChromaGiveTheSamePixels() {
        for (boolean interleaved : new boolean[] {false, true}) {
            for (int padding : new int[] {0, 3, 16}) {
                CameraFrame frame = FrameFixtures.yuv(LUMA, CB, CR, YW, YH, padding, interleaved, 0);
                for (int y = 0; y < YH; y++) {
                    for (int x = 0; x < YW; x++) {
                        assertEquals("(" + x + "," + y + ") interleaved=" + interleaved + " padding=" + padding,
                                expectedYuv(x, y), frame.uprightPixel(x, y));
                    }
                }
            }
        }
        // Pixels of one 2x2 block share chroma; the neighbouring block does not.
        assertEquals(ArgbImage.argb(255, 10, 10, 10), expectedYuv(0, 0));
        assertEquals(ArgbImage.argb(255, 70, 70, 70), expectedYuv(1, 1));
        assertNotEquals(ArgbImage.argb(255, 30, 30, 30), expectedYuv(2, 0));
    }

    @Test
    public void yuvRotationMovesLumaAndChromaTogether() {
        for (int rotation : new int[] {90, 180, 270}) {
            CameraFrame frame = FrameFixtures.yuv(LUMA, CB, CR, YW, YH, 2, true, rotation);
            int[] sensor = new int[YW * YH];
            for (int y = 0; y < YH; y++) {
                for (int x = 0; x < YW; x++) {
                    sensor[y * YW + x] = expectedYuv(x, y);
                }
            }
            int exif = rotation == 90 ? ExifOrientation.ROTATE_90
                    : rotation == 180 ? ExifOrientation.ROTATE_180 : ExifOrientation.ROTATE_270;
            ArgbImage expected = ExifOrientation.apply(new ArgbImage(sensor, YW, YH), exif);
            assertArrayEquals("rotation " + rotation, expected.pixels(), FrameFixtures.upright(frame).pixels());
        }
    }

    @Test
    public void interleavedChromaPlanesMustHoldTheirLastSample() {
        CameraFrame ok = FrameFixtures.yuv(LUMA, CB, CR, YW, YH, 0, true, 0);
        assertEquals(YW, ok.uprightWidth());
        ByteBuffer y = ByteBuffer.allocate(YW * YH);
        ByteBuffer uv = ByteBuffer.allocate(2 * 3 * 2 - 2);   // one sample short for pixel stride 2
        assertThrows(IllegalArgumentException.class, () -> new CameraFrame(CameraFrame.Format.YUV_420_888, YW, YH,
                new CameraFrame.Plane[] {new CameraFrame.Plane(y, YW, 1), new CameraFrame.Plane(uv, 6, 2),
                                         new CameraFrame.Plane(uv, 6, 2)}, 0));
    }
}
