package dev.tinymoat.demo.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Class names of an exported classifier, from the {@code labels.txt} that
 * {@code tinymoat-export} embeds as a TFLite associated file (a zip appended to the
 * model flatbuffer): one label per line, line {@code i} naming class {@code i}.
 */
public final class ModelLabels {
    public static final String LABELS_FILE = "labels.txt";

    private ModelLabels() {
    }

    /** Labels from the model's {@code labels.txt}; empty when the model carries none. */
    public static List<String> fromModel(ByteBuffer model) throws IOException {
        return fromModel(model, LABELS_FILE);
    }

    public static List<String> fromModel(ByteBuffer model, String fileName) throws IOException {
        Map<String, byte[]> files = AppendedZip.read(model);
        byte[] text = files.get(fileName);
        return text == null ? Collections.<String>emptyList() : parse(text);
    }

    /**
     * UTF-8 lines (a byte-order mark and {@code \r} line ends are dropped). A final
     * newline ends the last label rather than adding an empty one; empty lines inside
     * the file are kept so that later indices stay right.
     */
    public static List<String> parse(byte[] utf8) {
        String text = new String(utf8, StandardCharsets.UTF_8);
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        List<String> labels = new ArrayList<>();
        int start = 0;
        while (start < text.length()) {
            int end = text.indexOf('\n', start);
            if (end < 0) {
                end = text.length();
            }
            String line = text.substring(start, end);
            labels.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
            start = end + 1;
        }
        return Collections.unmodifiableList(labels);
    }

    /** The label of class {@code index}, or "class N" when there is none. */
    public static String labelFor(List<String> labels, int index) {
        if (index >= 0 && index < labels.size() && !labels.get(index).isEmpty()) {
            return labels.get(index);
        }
        return "class " + index;
    }
}
