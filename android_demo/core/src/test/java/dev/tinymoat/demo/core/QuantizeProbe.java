package dev.tinymoat.demo.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Command-line helper for tests/test_android_demo_java.py, which compares
 * {@link Quantization#quantize} with the exporter's {@code quantize}. Reads lines of
 * {@code TYPE SCALE ZERO_POINT VALUE...} (TYPE int8 or uint8) and prints the quantized
 * integers of each line.
 */
public final class QuantizeProbe {
    private QuantizeProbe() {
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] parts = line.trim().split("\\s+");
            if (parts.length < 3) {
                continue;
            }
            TensorType type = TensorType.valueOf(parts[0].toUpperCase(Locale.ROOT));
            Quantization q = new Quantization(Float.parseFloat(parts[1]), Integer.parseInt(parts[2]));
            List<String> out = new ArrayList<>();
            for (int i = 3; i < parts.length; i++) {
                out.add(Integer.toString(q.quantize(Float.parseFloat(parts[i]), type)));
            }
            System.out.println(String.join(" ", out));
        }
    }
}
