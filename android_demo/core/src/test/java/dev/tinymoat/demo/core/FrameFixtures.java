package dev.tinymoat.demo.core;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** Synthetic camera frames with known pixels, laid out the way camera buffers are. */
final class FrameFixtures {
    /** Filler for row padding: never a value the tests expect. */
    static final byte PADDING = (byte) 0xA5;

    private FrameFixtures() {
    }

    /**
     * An RGBA_8888 frame of {@code argb} pixels (row-major, width w) with {@code rowPadding}
     * junk bytes after each row except the last, whose buffer ends right after its pixels.
     */
    static CameraFrame rgba(int[] argb, int w, int h, int rowPadding, int rotation) {
        int rowStride = 4 * w + rowPadding;
        byte[] bytes = new byte[(h - 1) * rowStride + 4 * w];
        Arrays.fill(bytes, PADDING);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = argb[y * w + x];
                int o = y * rowStride + 4 * x;
                bytes[o] = (byte) ArgbImage.red(p);
                bytes[o + 1] = (byte) ArgbImage.green(p);
                bytes[o + 2] = (byte) ArgbImage.blue(p);
                bytes[o + 3] = (byte) 0x3C;   // alpha, ignored
            }
        }
        CameraFrame.Plane plane = new CameraFrame.Plane(ByteBuffer.wrap(bytes), rowStride, 4);
        return new CameraFrame(CameraFrame.Format.RGBA_8888, w, h, new CameraFrame.Plane[] {plane}, rotation);
    }

    /**
     * A YUV_420_888 frame. {@code interleaved}: U and V are views of one buffer
     * (pixel stride 2, V one byte after U, as NV12-style camera buffers are); else
     * separate planes with pixel stride 1. Rows carry {@code rowPadding} junk bytes.
     */
    static CameraFrame yuv(int[] luma, int[] cb, int[] cr, int w, int h, int rowPadding, boolean interleaved,
                           int rotation) {
        int cw = (w + 1) / 2;
        int ch = (h + 1) / 2;
        int yStride = w + rowPadding;
        byte[] y = new byte[(h - 1) * yStride + w];
        Arrays.fill(y, PADDING);
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                y[r * yStride + c] = (byte) luma[r * w + c];
            }
        }
        CameraFrame.Plane yPlane = new CameraFrame.Plane(ByteBuffer.wrap(y), yStride, 1);
        CameraFrame.Plane uPlane;
        CameraFrame.Plane vPlane;
        if (interleaved) {
            int stride = 2 * cw + rowPadding;
            byte[] uv = new byte[(ch - 1) * stride + 2 * cw];
            Arrays.fill(uv, PADDING);
            for (int r = 0; r < ch; r++) {
                for (int c = 0; c < cw; c++) {
                    uv[r * stride + 2 * c] = (byte) cb[r * cw + c];
                    uv[r * stride + 2 * c + 1] = (byte) cr[r * cw + c];
                }
            }
            ByteBuffer u = ByteBuffer.wrap(uv, 0, uv.length - 1).slice();   // ends at the last U
            ByteBuffer v = ByteBuffer.wrap(uv, 1, uv.length - 1).slice();   // starts at the first V
            uPlane = new CameraFrame.Plane(u, stride, 2);
            vPlane = new CameraFrame.Plane(v, stride, 2);
        } else {
            int stride = cw + rowPadding;
            uPlane = new CameraFrame.Plane(ByteBuffer.wrap(chromaPlane(cb, cw, ch, stride)), stride, 1);
            vPlane = new CameraFrame.Plane(ByteBuffer.wrap(chromaPlane(cr, cw, ch, stride)), stride, 1);
        }
        return new CameraFrame(CameraFrame.Format.YUV_420_888, w, h,
                new CameraFrame.Plane[] {yPlane, uPlane, vPlane}, rotation);
    }

    private static byte[] chromaPlane(int[] values, int cw, int ch, int stride) {
        byte[] out = new byte[(ch - 1) * stride + cw];
        Arrays.fill(out, PADDING);
        for (int r = 0; r < ch; r++) {
            for (int c = 0; c < cw; c++) {
                out[r * stride + c] = (byte) values[r * cw + c];
            }
        }
        return out;
    }

    /** Distinct opaque pixels: red 20x+1, green 20y+2, blue 3 (x, y below 12). */
    static int[] distinct(int w, int h) {
        int[] out = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                out[y * w + x] = ArgbImage.argb(255, 20 * x + 1, 20 * y + 2, 3);
            }
        }
        return out;
    }

    /** The upright picture of a frame, pixel by pixel. */
    static ArgbImage upright(CameraFrame frame) {
        int w = frame.uprightWidth();
        int h = frame.uprightHeight();
        int[] out = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                out[y * w + x] = frame.uprightPixel(x, y);
            }
        }
        return new ArgbImage(out, w, h);
    }
}
