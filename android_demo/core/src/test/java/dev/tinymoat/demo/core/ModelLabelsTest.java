package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class ModelLabelsTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static ByteBuffer modelWith(Map<String, byte[]> files) throws IOException {
        return ByteBuffer.wrap(ZipFixtures.concatWithAbsoluteOffsets(
                ZipFixtures.fakeFlatbuffer(3000), ZipFixtures.zip(files, false, null)));
    }

    @Test
    public void readsLabelsTxtFromTheModelsAssociatedFiles() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("vocab.txt", utf8("not labels\n"));
        files.put("labels.txt", utf8("tench\ngoldfish\ngreat white shark\n"));
        List<String> labels = ModelLabels.fromModel(modelWith(files));
        assertEquals(Arrays.asList("tench", "goldfish", "great white shark"), labels);
        assertEquals(Arrays.asList("not labels"), ModelLabels.fromModel(modelWith(files), "vocab.txt"));
    }

    @Test
    public void modelsWithoutLabelsGiveAnEmptyList() throws IOException {
        assertTrue(ModelLabels.fromModel(ByteBuffer.wrap(ZipFixtures.fakeFlatbuffer(3000))).isEmpty());
        Map<String, byte[]> other = new LinkedHashMap<>();
        other.put("other.txt", utf8("x"));
        assertTrue(ModelLabels.fromModel(modelWith(other)).isEmpty());
    }

    @Test
    public void parseHandlesLineEndingsBomAndBlankLines() {
        assertEquals(Arrays.asList("a", "b"), ModelLabels.parse(utf8("a\nb")));
        assertEquals(Arrays.asList("a", "b"), ModelLabels.parse(utf8("a\r\nb\r\n")));
        assertEquals(Arrays.asList("a", "b"), ModelLabels.parse(utf8("\uFEFFa\nb\n")));
        assertEquals(Arrays.asList("a", "", "c"), ModelLabels.parse(utf8("a\n\nc\n")));
        assertEquals(Arrays.asList("cr\u00e8me br\u00fbl\u00e9e", "tench, Tinca tinca"),
                ModelLabels.parse(utf8("cr\u00e8me br\u00fbl\u00e9e\ntench, Tinca tinca\n")));
        assertTrue(ModelLabels.parse(new byte[0]).isEmpty());
    }

    @Test
    public void labelForFallsBackToTheIndex() {
        List<String> labels = Arrays.asList("cat", "");
        assertEquals("cat", ModelLabels.labelFor(labels, 0));
        assertEquals("class 1", ModelLabels.labelFor(labels, 1));
        assertEquals("class 7", ModelLabels.labelFor(labels, 7));
        assertEquals("class 3", ModelLabels.labelFor(Collections.<String>emptyList(), 3));
    }
}
