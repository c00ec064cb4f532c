package dev.tinymoat.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Builds models with appended zip archives the way exporters produce them. */
final class ZipFixtures {
    private ZipFixtures() {
    }

    /** Stand-in for a TFLite flatbuffer: "TFL3" at offset 4, like a real model. */
    static byte[] fakeFlatbuffer(int size) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        b[4] = 'T';
        b[5] = 'F';
        b[6] = 'L';
        b[7] = '3';
        return b;
    }

    static byte[] zip(Map<String, byte[]> files, boolean stored, String comment) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            if (comment != null) {
                zip.setComment(comment);
            }
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                ZipEntry e = new ZipEntry(f.getKey());
                if (stored) {
                    CRC32 crc = new CRC32();
                    crc.update(f.getValue());
                    e.setMethod(ZipEntry.STORED);
                    e.setSize(f.getValue().length);
                    e.setCompressedSize(f.getValue().length);
                    e.setCrc(crc.getValue());
                }
                zip.putNextEntry(e);
                zip.write(f.getValue());
                zip.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    /** Model bytes followed by the archive, offsets relative to the archive (like {@code cat}). */
    static byte[] concat(byte[] model, byte[] zip) {
        byte[] out = new byte[model.length + zip.length];
        System.arraycopy(model, 0, out, 0, model.length);
        System.arraycopy(zip, 0, out, model.length, zip.length);
        return out;
    }

    /**
     * Model bytes followed by the archive with offsets counted from the start of the
     * whole file, as Python's zipfile writes when appending to a non-zip file.
     */
    static byte[] concatWithAbsoluteOffsets(byte[] model, byte[] zip) {
        byte[] out = concat(model, zip);
        ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = out.length - 22 - (b.getShort(out.length - 2) & 0xFFFF);
        while (b.getInt(eocd) != 0x06054b50) {
            eocd--;
        }
        int entries = b.getShort(eocd + 10) & 0xFFFF;
        int cdOffset = b.getInt(eocd + 16);
        b.putInt(eocd + 16, cdOffset + model.length);
        int p = model.length + cdOffset;
        for (int i = 0; i < entries; i++) {
            b.putInt(p + 42, b.getInt(p + 42) + model.length);
            p += 46 + (b.getShort(p + 28) & 0xFFFF) + (b.getShort(p + 30) & 0xFFFF) + (b.getShort(p + 32) & 0xFFFF);
        }
        return out;
    }
}
