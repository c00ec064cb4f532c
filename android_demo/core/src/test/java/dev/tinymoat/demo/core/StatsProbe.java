package dev.tinymoat.demo.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Command-line helper for tests/test_android_demo_java.py, which compares the app's
 * statistics with export/latency/stats.py and its number spelling with Python's repr.
 * Reads lines of numbers separated by spaces from stdin. With the argument
 * {@code stats} it prints, per line, {@code mean median p90 p99 min max stdev} of the
 * line's samples; with {@code repr} it prints the line's numbers back. Every number is
 * spelled by {@link JsonWriter#formatDouble}.
 */
public final class StatsProbe {
    private StatsProbe() {
    }

    public static void main(String[] args) throws IOException {
        boolean stats = args.length == 1 && args[0].equals("stats");
        if (!stats && !(args.length == 1 && args[0].equals("repr"))) {
            throw new IllegalArgumentException("usage: StatsProbe stats|repr < numbers");
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.trim().isEmpty()) {
                continue;
            }
            String[] parts = line.trim().split("\\s+");
            double[] numbers = new double[parts.length];
            for (int i = 0; i < parts.length; i++) {
                numbers[i] = Double.parseDouble(parts[i]);
            }
            if (stats) {
                LatencyStats s = LatencyStats.of(numbers);
                numbers = new double[] {s.mean(), s.median(), s.p90(), s.p99(), s.min(), s.max(), s.stdev()};
            }
            List<String> out = new ArrayList<>();
            for (double v : numbers) {
                out.add(JsonWriter.formatDouble(v));
            }
            System.out.println(String.join(" ", out));
        }
    }
}
