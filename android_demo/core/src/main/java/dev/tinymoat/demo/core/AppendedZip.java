package dev.tinymoat.demo.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads a zip archive that sits at the end of other data, as TFLite associated files
 * do: a {@code .tflite} with metadata is the model flatbuffer followed by a zip of
 * files such as {@code labels.txt}.
 *
 * <p>{@code java.util.zip.ZipInputStream} expects the archive at offset 0 and
 * {@code ZipFile} needs a file on disk, so this reads the end-of-central-directory
 * record from the back of an in-memory (or memory-mapped) buffer instead. It accepts
 * both ways of appending: central-directory offsets relative to the archive (plain
 * concatenation) or to the whole file (Python's {@code zipfile} in append mode). Stored
 * and deflated entries are supported; the CRC of every entry is checked.
 */
public final class AppendedZip {
    private static final int EOCD_SIGNATURE = 0x06054b50;
    private static final int CENTRAL_SIGNATURE = 0x02014b50;
    private static final int LOCAL_SIGNATURE = 0x04034b50;
    private static final int EOCD_SIZE = 22;
    private static final int CENTRAL_SIZE = 46;
    private static final int LOCAL_SIZE = 30;
    private static final int MAX_COMMENT = 0xFFFF;
    /** Associated files are labels and small configs; refuse anything that inflates past this. */
    static final int MAX_ENTRY_BYTES = 16 << 20;

    private AppendedZip() {
    }

    /**
     * The files of the archive at the end of {@code data} (from its position to its
     * limit), by name in archive order; empty when the data ends in no archive.
     * The buffer's position and limit are not changed.
     *
     * @throws IOException when an archive is there but damaged or uses zip features
     *     outside this reader (zip64, encryption, multiple disks, other compressions)
     */
    public static Map<String, byte[]> read(ByteBuffer data) throws IOException {
        ByteBuffer b = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        int length = b.capacity();
        int eocd = findEndRecord(b, length);
        if (eocd < 0) {
            return Collections.emptyMap();
        }
        if (u16(b, eocd + 4) != 0 || u16(b, eocd + 6) != 0) {
            throw new IOException("multi-disk zip archives are not supported");
        }
        int entries = u16(b, eocd + 10);
        long cdSize = u32(b, eocd + 12);
        long cdOffset = u32(b, eocd + 16);
        if (entries == 0xFFFF || cdSize == 0xFFFFFFFFL || cdOffset == 0xFFFFFFFFL) {
            throw new IOException("zip64 archives are not supported");
        }
        long cdStart = eocd - cdSize;
        long prefix = cdStart - cdOffset;   // bytes before the archive, 0 when offsets are absolute
        if (cdStart < 0 || prefix < 0) {
            throw new IOException("zip central directory lies outside the data");
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        int p = (int) cdStart;
        for (int i = 0; i < entries; i++) {
            if (p + CENTRAL_SIZE > eocd || b.getInt(p) != CENTRAL_SIGNATURE) {
                throw new IOException("bad zip central directory entry " + i);
            }
            int flags = u16(b, p + 8);
            int method = u16(b, p + 10);
            long crc = u32(b, p + 16);
            long compressed = u32(b, p + 20);
            long size = u32(b, p + 24);
            int nameLength = u16(b, p + 28);
            int next = p + CENTRAL_SIZE + nameLength + u16(b, p + 30) + u16(b, p + 32);
            if (next > eocd) {
                throw new IOException("bad zip central directory entry " + i);
            }
            String name = string(b, p + CENTRAL_SIZE, nameLength, (flags & 0x800) != 0);
            long local = prefix + u32(b, p + 42);
            p = next;
            if (name.endsWith("/")) {
                continue;
            }
            if ((flags & 1) != 0) {
                throw new IOException("encrypted zip entry " + name);
            }
            if (size > MAX_ENTRY_BYTES) {
                throw new IOException("zip entry " + name + " is " + size + " bytes, more than " + MAX_ENTRY_BYTES);
            }
            byte[] content = extract(b, name, local, method, compressed, (int) size, cdStart);
            CRC32 check = new CRC32();
            check.update(content);
            if (check.getValue() != crc) {
                throw new IOException("CRC mismatch in zip entry " + name);
            }
            files.put(name, content);
        }
        return Collections.unmodifiableMap(files);
    }

    private static int findEndRecord(ByteBuffer b, int length) {
        int last = length - EOCD_SIZE;
        int first = Math.max(0, last - MAX_COMMENT);
        for (int i = last; i >= first; i--) {
            if (b.getInt(i) == EOCD_SIGNATURE && i + EOCD_SIZE + u16(b, i + 20) == length) {
                return i;
            }
        }
        return -1;
    }

    private static byte[] extract(ByteBuffer b, String name, long local, int method, long compressed,
                                  int size, long end) throws IOException {
        if (local + LOCAL_SIZE > end || b.getInt((int) local) != LOCAL_SIGNATURE) {
            throw new IOException("bad zip local header for " + name);
        }
        long start = local + LOCAL_SIZE + u16(b, (int) local + 26) + u16(b, (int) local + 28);
        if (start + compressed > end) {
            throw new IOException("zip entry " + name + " runs past the central directory");
        }
        if (method == 0) {
            if (compressed != size) {
                throw new IOException("stored zip entry " + name + " has differing sizes");
            }
            return bytes(b, (int) start, size, 0);
        }
        if (method != 8) {
            throw new IOException("zip entry " + name + " uses unsupported compression method " + method);
        }
        // One spare byte: raw inflate may want to read past the deflate stream's end.
        byte[] input = bytes(b, (int) start, (int) compressed, 1);
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(input);
            byte[] out = new byte[size];
            int n = 0;
            while (n < size) {
                int got = inflater.inflate(out, n, size - n);
                if (got == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                n += got;
            }
            if (n != size || !inflater.finished() && inflater.inflate(new byte[1]) != 0) {
                throw new IOException("zip entry " + name + " does not inflate to " + size + " bytes");
            }
            return out;
        } catch (DataFormatException e) {
            throw new IOException("zip entry " + name + " is not valid deflate data", e);
        } finally {
            inflater.end();
        }
    }

    private static byte[] bytes(ByteBuffer b, int start, int length, int spare) {
        byte[] out = new byte[length + spare];
        for (int i = 0; i < length; i++) {
            out[i] = b.get(start + i);
        }
        return out;
    }

    private static String string(ByteBuffer b, int start, int length, boolean utf8) {
        return new String(bytes(b, start, length, 0), Charset.forName(utf8 ? "UTF-8" : "ISO-8859-1"));
    }

    private static int u16(ByteBuffer b, int at) {
        return b.getShort(at) & 0xFFFF;
    }

    private static long u32(ByteBuffer b, int at) {
        return b.getInt(at) & 0xFFFFFFFFL;
    }
}
