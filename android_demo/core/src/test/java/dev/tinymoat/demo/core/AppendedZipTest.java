package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

public class AppendedZipTest {
    private static final byte[] MODEL = ZipFixtures.fakeFlatbuffer(5000);

    private static Map<String, byte[]> files() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("labels.txt", "cat\ndog\n".getBytes(StandardCharsets.UTF_8));
        files.put("extra/notes.md", "h\u00e9llo".getBytes(StandardCharsets.UTF_8));
        files.put("big.bin", ZipFixtures.fakeFlatbuffer(70_000));
        return files;
    }

    private static void assertSameFiles(Map<String, byte[]> expected, Map<String, byte[]> actual) {
        assertEquals(new ArrayList<>(expected.keySet()), new ArrayList<>(actual.keySet()));
        for (String name : expected.keySet()) {
            assertArrayEquals(name, expected.get(name), actual.get(name));
        }
    }

    @Test
    public void readsStoredEntriesAppendedByConcatenation() throws IOException {
        byte[] file = ZipFixtures.concat(MODEL, ZipFixtures.zip(files(), true, null));
        assertSameFiles(files(), AppendedZip.read(ByteBuffer.wrap(file)));
    }

    @Test
    public void readsDeflatedEntries() throws IOException {
        byte[] file = ZipFixtures.concat(MODEL, ZipFixtures.zip(files(), false, null));
        assertSameFiles(files(), AppendedZip.read(ByteBuffer.wrap(file)));
    }

    @Test
    public void readsOffsetsCountedFromTheStartOfTheFile() throws IOException {
        for (boolean stored : new boolean[] {true, false}) {
            byte[] file = ZipFixtures.concatWithAbsoluteOffsets(MODEL, ZipFixtures.zip(files(), stored, null));
            assertSameFiles(files(), AppendedZip.read(ByteBuffer.wrap(file)));
        }
    }

    @Test
    public void toleratesAnArchiveComment() throws IOException {
        byte[] file = ZipFixtures.concat(MODEL, ZipFixtures.zip(files(), true, "made by a test"));
        assertSameFiles(files(), AppendedZip.read(ByteBuffer.wrap(file)));
    }

    @Test
    public void worksOnDirectBuffersAndLeavesThemAlone() throws IOException {
        byte[] file = ZipFixtures.concat(MODEL, ZipFixtures.zip(files(), true, null));
        ByteBuffer direct = ByteBuffer.allocateDirect(file.length).put(file);
        direct.position(0);
        assertSameFiles(files(), AppendedZip.read(direct));
        assertEquals(0, direct.position());
        assertEquals(file.length, direct.limit());
    }

    @Test
    public void dataWithoutAnArchiveHasNoFiles() throws IOException {
        assertTrue(AppendedZip.read(ByteBuffer.wrap(MODEL)).isEmpty());
        assertTrue(AppendedZip.read(ByteBuffer.wrap(new byte[10])).isEmpty());
        assertTrue(AppendedZip.read(ByteBuffer.allocate(0)).isEmpty());
    }

    @Test
    public void directoriesAreSkipped() throws IOException {
        Map<String, byte[]> withDir = new LinkedHashMap<>();
        withDir.put("dir/", new byte[0]);
        withDir.put("dir/a.txt", "a".getBytes(StandardCharsets.UTF_8));
        Map<String, byte[]> read = AppendedZip.read(ByteBuffer.wrap(
                ZipFixtures.concat(MODEL, ZipFixtures.zip(withDir, true, null))));
        assertEquals(1, read.size());
        assertArrayEquals("a".getBytes(StandardCharsets.UTF_8), read.get("dir/a.txt"));
    }

    @Test
    public void damagedContentFailsTheCrcCheck() throws IOException {
        Map<String, byte[]> one = new LinkedHashMap<>();
        one.put("labels.txt", "cat\ndog\n".getBytes(StandardCharsets.UTF_8));
        byte[] file = ZipFixtures.concat(MODEL, ZipFixtures.zip(one, true, null));
        int at = indexOf(file, "cat\ndog".getBytes(StandardCharsets.UTF_8));
        file[at] = 'b';
        IOException e = assertThrows(IOException.class, () -> AppendedZip.read(ByteBuffer.wrap(file)));
        assertTrue(e.getMessage(), e.getMessage().contains("CRC"));
    }

    @Test
    public void truncatedCentralDirectoryIsAnError() throws IOException {
        byte[] zip = ZipFixtures.zip(files(), true, null);
        byte[] file = ZipFixtures.concat(MODEL, zip);
        // Claim a central directory larger than the data in front of the end record.
        ByteBuffer b = ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putInt(file.length - 22 + 12, file.length);
        assertThrows(IOException.class, () -> AppendedZip.read(ByteBuffer.wrap(file)));
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
