package dev.tinymoat.demo.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * Command-line helper for tests/test_android_demo_java.py: prints the labels that
 * {@link ModelLabels} reads from the .tflite file named by the first argument, as a
 * JSON array, so Python can check them against a model its exporter wrote.
 */
public final class LabelsProbe {
    private LabelsProbe() {
    }

    public static void main(String[] args) throws IOException {
        ByteBuffer model = ByteBuffer.wrap(Files.readAllBytes(Paths.get(args[0])));
        JsonWriter json = new JsonWriter().beginArray();
        for (String label : ModelLabels.fromModel(model)) {
            json.value(label);
        }
        System.out.println(json.endArray());
    }
}
