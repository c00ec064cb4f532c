package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.Test;

public class Sha256Test {
    @Test
    public void knownDigests() {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Sha256.hex("abc".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Sha256.hex(new byte[0]));
    }

    @Test
    public void hashesTheRemainingBytesAndLeavesThePosition() {
        ByteBuffer b = ByteBuffer.wrap("xxabc".getBytes(StandardCharsets.US_ASCII));
        b.position(2);
        assertEquals(Sha256.hex("abc".getBytes(StandardCharsets.US_ASCII)), Sha256.hex(b));
        assertEquals(2, b.position());
        ByteBuffer direct = ByteBuffer.allocateDirect(3).put("abc".getBytes(StandardCharsets.US_ASCII));
        direct.position(0);
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Sha256.hex(direct));
    }
}
