package dev.tinymoat.demo.core;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** Lower-case hex SHA-256, as {@code sha256sum} and the export manifest write it. */
public final class Sha256 {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Sha256() {
    }

    /** Digest of the buffer's remaining bytes; the buffer's position is left alone. */
    public static String hex(ByteBuffer data) {
        MessageDigest digest = newDigest();
        digest.update(data.duplicate());
        return toHex(digest.digest());
    }

    public static String hex(byte[] data) {
        return hex(ByteBuffer.wrap(data));
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static String toHex(byte[] bytes) {
        char[] out = new char[bytes.length * 2];
        for (int i = 0; i < bytes.length; i++) {
            out[2 * i] = HEX[(bytes[i] >> 4) & 0xF];
            out[2 * i + 1] = HEX[bytes[i] & 0xF];
        }
        return new String(out);
    }
}
