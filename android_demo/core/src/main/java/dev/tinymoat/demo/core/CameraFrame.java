package dev.tinymoat.demo.core;

import java.nio.ByteBuffer;

/**
 * One camera frame as CameraX's {@code ImageProxy} hands it to an analyzer, in core
 * terms: its format, size, planes (buffer, row stride, pixel stride), the clockwise
 * rotation that makes it upright ({@code imageInfo.rotationDegrees}) and its crop rect.
 *
 * <p>Formats: {@link Format#YUV_420_888} (three planes Y, U, V; U and V at half
 * resolution in both directions, with any row and pixel stride, so I420, NV12 and NV21
 * layouts all fit) and {@link Format#RGBA_8888} (one plane, bytes R, G, B, A per pixel).
 * Plane buffers are read from their position at construction time onwards, as absolute
 * offsets; the last row may be shorter than the row stride, as camera buffers are.
 *
 * <p>Nothing is copied: the frame is valid only until the {@code ImageProxy} is closed.
 */
public final class CameraFrame {
    /** The two {@code ImageAnalysis} output formats. */
    public enum Format {
        YUV_420_888(3),
        RGBA_8888(1);

        private final int planes;

        Format(int planes) {
            this.planes = planes;
        }

        public int planeCount() {
            return planes;
        }
    }

    /** One plane: the bytes, the distance between rows, and between neighbouring samples of a row. */
    public static final class Plane {
        private final ByteBuffer buffer;
        private final int base;
        private final int rowStride;
        private final int pixelStride;

        public Plane(ByteBuffer buffer, int rowStride, int pixelStride) {
            if (buffer == null) {
                throw new IllegalArgumentException("plane has no buffer");
            }
            if (rowStride <= 0 || pixelStride <= 0) {
                throw new IllegalArgumentException("plane strides must be positive, got row stride " + rowStride
                        + " and pixel stride " + pixelStride);
            }
            this.buffer = buffer;
            this.base = buffer.position();
            this.rowStride = rowStride;
            this.pixelStride = pixelStride;
        }

        public int rowStride() {
            return rowStride;
        }

        public int pixelStride() {
            return pixelStride;
        }

        /** The byte of sample {@code (x, y)} of this plane, plus {@code channel} bytes (0..255). */
        int sample(int x, int y, int channel) {
            return buffer.get(base + y * rowStride + x * pixelStride + channel) & 0xFF;
        }

        /** Throws unless {@code columns x rows} samples of {@code bytesPerSample} bytes fit. */
        void checkCovers(String name, int columns, int rows, int bytesPerSample) {
            if (pixelStride < bytesPerSample) {
                throw new IllegalArgumentException(name + " plane: pixel stride " + pixelStride + " is below the "
                        + bytesPerSample + " bytes of a sample");
            }
            if (rows > 1 && rowStride < (long) (columns - 1) * pixelStride + bytesPerSample) {
                throw new IllegalArgumentException(name + " plane: row stride " + rowStride + " is shorter than a row of "
                        + columns + " samples with pixel stride " + pixelStride);
            }
            long needed = (long) (rows - 1) * rowStride + (long) (columns - 1) * pixelStride + bytesPerSample;
            long available = buffer.limit() - base;
            if (available < needed) {
                throw new IllegalArgumentException(name + " plane holds " + available + " bytes, " + columns + "x" + rows
                        + " samples with row stride " + rowStride + " and pixel stride " + pixelStride + " need "
                        + needed);
            }
        }
    }

    private final Format format;
    private final int width;
    private final int height;
    private final Plane[] planes;
    private final int rotationDegrees;
    private final int cropLeft;
    private final int cropTop;
    private final int cropWidth;
    private final int cropHeight;

    /** A frame whose crop rect is the whole buffer. */
    public CameraFrame(Format format, int width, int height, Plane[] planes, int rotationDegrees) {
        this(format, width, height, planes, rotationDegrees, 0, 0, width, height);
    }

    /**
     * @param rotationDegrees 0, 90, 180 or 270: how far to turn the frame clockwise to make it upright
     * @param cropLeft the crop rect ({@code ImageProxy.getCropRect()}) in buffer pixels; only
     *     this part of the buffer is the picture
     */
    public CameraFrame(Format format, int width, int height, Plane[] planes, int rotationDegrees,
                       int cropLeft, int cropTop, int cropWidth, int cropHeight) {
        if (format == null) {
            throw new IllegalArgumentException("frame format is required");
        }
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("frame size must be positive, got " + width + "x" + height);
        }
        if (rotationDegrees != 0 && rotationDegrees != 90 && rotationDegrees != 180 && rotationDegrees != 270) {
            throw new IllegalArgumentException("rotation must be 0, 90, 180 or 270 degrees, got " + rotationDegrees);
        }
        if (cropWidth <= 0 || cropHeight <= 0 || cropLeft < 0 || cropTop < 0
                || cropLeft + cropWidth > width || cropTop + cropHeight > height) {
            throw new IllegalArgumentException("crop rect " + cropLeft + "," + cropTop + " " + cropWidth + "x"
                    + cropHeight + " is not inside the " + width + "x" + height + " frame");
        }
        if (planes == null || planes.length != format.planeCount()) {
            throw new IllegalArgumentException(format + " needs " + format.planeCount() + " planes, got "
                    + (planes == null ? "none" : String.valueOf(planes.length)));
        }
        if (format == Format.RGBA_8888) {
            planes[0].checkCovers("RGBA", width, height, 4);
        } else {
            planes[0].checkCovers("Y", width, height, 1);
            int cw = (width + 1) / 2;
            int ch = (height + 1) / 2;
            planes[1].checkCovers("U", cw, ch, 1);
            planes[2].checkCovers("V", cw, ch, 1);
        }
        this.format = format;
        this.width = width;
        this.height = height;
        this.planes = planes.clone();
        this.rotationDegrees = rotationDegrees;
        this.cropLeft = cropLeft;
        this.cropTop = cropTop;
        this.cropWidth = cropWidth;
        this.cropHeight = cropHeight;
    }

    public Format format() {
        return format;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    public int rotationDegrees() {
        return rotationDegrees;
    }

    /** Width of the picture once turned upright (the crop rect's, swapped for 90 and 270 degrees). */
    public int uprightWidth() {
        return rotationDegrees % 180 == 0 ? cropWidth : cropHeight;
    }

    public int uprightHeight() {
        return rotationDegrees % 180 == 0 ? cropHeight : cropWidth;
    }

    /**
     * The colour at {@code (x, y)} of the upright picture, as {@code 0xFFRRGGBB}.
     * YUV is converted with full-range BT.601 coefficients (JFIF), the YCbCr that
     * Android cameras deliver for YUV_420_888.
     */
    public int uprightPixel(int x, int y) {
        int sx;
        int sy;
        switch (rotationDegrees) {
            case 0: sx = x; sy = y; break;
            case 90: sx = y; sy = cropHeight - 1 - x; break;
            case 180: sx = cropWidth - 1 - x; sy = cropHeight - 1 - y; break;
            default: sx = cropWidth - 1 - y; sy = x; break;   // 270
        }
        sx += cropLeft;
        sy += cropTop;
        if (format == Format.RGBA_8888) {
            Plane p = planes[0];
            return ArgbImage.argb(255, p.sample(sx, sy, 0), p.sample(sx, sy, 1), p.sample(sx, sy, 2));
        }
        int luma = planes[0].sample(sx, sy, 0);
        int cb = planes[1].sample(sx >> 1, sy >> 1, 0) - 128;
        int cr = planes[2].sample(sx >> 1, sy >> 1, 0) - 128;
        return yuvToArgb(luma, cb, cr);
    }

    /** Full-range BT.601: R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb; rounded, clamped. */
    static int yuvToArgb(int luma, int cb, int cr) {
        int r = clamp(Math.round(luma + 1.402f * cr));
        int g = clamp(Math.round(luma - 0.344136f * cb - 0.714136f * cr));
        int b = clamp(Math.round(luma + 1.772f * cb));
        return ArgbImage.argb(255, r, g, b);
    }

    private static int clamp(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }

    @Override
    public String toString() {
        return format + " " + width + "x" + height + " rotated " + rotationDegrees + " degrees";
    }
}
