package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.Arrays;
import org.junit.Test;

public class BenchmarkResultTest {
    /** Set to a path (run_core_tests.sh --update-golden does) to rewrite the golden file. */
    private static final String UPDATE_PROPERTY = "tinymoat.updateGolden";
    private static final String GOLDEN = "/expected_result.json";

    /** 30 timed runs of tiny-moat-0 INT8 on XNNPACK, 4 threads, as a Pixel 8 might give them. */
    static final double[] SAMPLES_MS = {
        11.82, 11.94, 12.07, 11.88, 12.31, 11.79, 11.85, 12.02, 11.91, 11.97,
        12.45, 11.83, 11.9, 12.11, 11.86, 11.95, 12.88, 11.81, 11.92, 12.04,
        11.87, 11.99, 12.2, 11.84, 11.93, 14.62, 11.89, 12.01, 11.96, 11.8,
    };

    static BenchmarkResult exampleResult() {
        return BenchmarkResult.builder()
                .device(DeviceDescription.fromBuild("Google", "Pixel 8", "14", 34, "arm64-v8a", "Google", "Tensor G3"))
                .runtimeVersion("1.4.0")
                .config(new BenchmarkConfig(Delegate.XNNPACK, 4, SAMPLES_MS.length, 10))
                .artifact(ArtifactName.of("tiny-moat-0_224_int8.tflite"), new int[] {224, 224}, 3_456_789L,
                        Sha256.hex("tiny-moat-0_224_int8.tflite".getBytes(StandardCharsets.US_ASCII)))
                .latency(LatencyStats.of(SAMPLES_MS), 41.87, 0.00041)
                .initMs(63.2)
                .peakMemory(PeakMemory.growthMb(PeakMemory.fromProcStatus("Name:\tdemo\nVmHWM:\t  98304 kB\n"),
                        PeakMemory.fromProcStatus("Name:\tdemo\nVmHWM:\t  121344 kB\n")), true)
                .createdMillis(Instant.parse("2026-11-22T10:00:00Z").toEpochMilli() + 345)
                .toolVersion("0.1.0")
                .build();
    }

    @Test
    public void documentEqualsTheCommittedGoldenFile() throws IOException {
        String json = exampleResult().toJson() + "\n";
        String update = System.getProperty(UPDATE_PROPERTY);
        if (update != null && !update.isEmpty()) {
            Files.write(Paths.get(update), json.getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(readResource(GOLDEN), json);
    }

    @Test
    public void documentHasTheSchemaFieldsInOrder() {
        String json = exampleResult().toJson();
        String[] keys = {
            "\"schema\": \"tinymoat.latency/1\"", "\"device\": {", "\"kind\": \"android\"", "\"name\": null",
            "\"model\": \"Google Pixel 8\"", "\"os\": \"Android 14 (API 34)\"", "\"cpu\": \"arm64-v8a\"",
            "\"soc\": \"Google Tensor G3\"", "\"runtime\": {", "\"name\": \"litert\"", "\"version\": \"1.4.0\"",
            "\"delegate\": \"xnnpack\"", "\"threads\": 4", "\"artifact\": {", "\"file\": \"tiny-moat-0_224_int8.tflite\"",
            "\"variant\": \"tiny-moat-0\"", "\"precision\": \"int8\"", "\"input_size\": [", "\"size_bytes\": 3456789",
            "\"sha256\": \"", "\"latency_ms\": {", "\"warmup\": 10", "\"runs\": 30", "\"mean\": ", "\"median\": ",
            "\"p90\": ", "\"p99\": ", "\"min\": 11.79", "\"max\": 14.62", "\"stdev\": ", "\"init_ms\": 63.2",
            "\"first_inference_ms\": 41.87", "\"peak_memory_mb\": 22.5", "\"harness_overhead_ms\": 0.00041",
            "\"validation\": null", "\"notes\": [", "\"created\": \"2026-11-22T10:00:00Z\"",
            "\"tool\": \"tinymoat-android 0.1.0\"",
        };
        int at = 0;
        for (String key : keys) {
            int found = json.indexOf(key, at);
            assertTrue("missing or out of order: " + key, found >= 0);
            at = found + key.length();
        }
    }

    @Test
    public void statisticsInTheDocumentAreThoseOfTheSamples() {
        LatencyStats s = LatencyStats.of(SAMPLES_MS);
        String json = exampleResult().toJson();
        assertTrue(json.contains("\"median\": " + JsonWriter.formatDouble(s.median()) + ","));
        assertTrue(json.contains("\"p99\": " + JsonWriter.formatDouble(s.p99()) + ","));
        assertTrue(json.contains("\"stdev\": " + JsonWriter.formatDouble(s.stdev()) + "\n"));
    }

    @Test
    public void notesExplainWhatIsNullAndWhereValuesComeFrom() {
        assertEquals(Arrays.asList(BenchmarkResult.NOTE_NO_SERIAL, BenchmarkResult.NOTE_RUNTIME_VERSION,
                BenchmarkResult.NOTE_VARIANT_FROM_NAME, BenchmarkResult.NOTE_PEAK + BenchmarkResult.NOTE_PEAK_RESET),
                exampleResult().notes());
    }

    @Test
    public void missingMeasurementsAndUnknownsAreNull() {
        BenchmarkResult r = BenchmarkResult.builder()
                .device(DeviceDescription.fromBuild("", "", "", 24, "", null, null))
                .config(new BenchmarkConfig(Delegate.GPU, 1, 1, 0))
                .artifact(ArtifactName.of("model.tflite"), null, 10, repeat('a', 64))
                .latency(LatencyStats.of(new double[] {2.0}), null, null)
                .createdMillis(0)
                .toolVersion("dev")
                .build();
        String json = r.toJson();
        for (String nulled : new String[] {"name", "model", "os", "cpu", "soc", "version", "variant", "precision",
                "input_size", "init_ms", "first_inference_ms", "peak_memory_mb", "harness_overhead_ms", "validation"}) {
            assertTrue(nulled, json.contains("\"" + nulled + "\": null"));
        }
        assertTrue(json.contains("\"created\": \"1970-01-01T00:00:00Z\""));
        assertTrue(json.contains("\"stdev\": 0.0"));
        assertEquals(Arrays.asList(BenchmarkResult.NOTE_NO_SERIAL, BenchmarkResult.NOTE_NO_VARIANT,
                BenchmarkResult.NOTE_NO_PEAK), r.notes());
        assertTrue(json.contains("\"notes\": [\n    \"" + BenchmarkResult.NOTE_NO_SERIAL + "\","));
    }

    @Test
    public void peakThatCouldNotBeResetIsSaidSo() {
        BenchmarkResult r = validBuilder().peakMemory(3.0, false).build();
        assertTrue(r.notes().contains(BenchmarkResult.NOTE_PEAK + BenchmarkResult.NOTE_PEAK_NOT_RESET));
        assertTrue(r.toJson().contains("\"peak_memory_mb\": 3.0,"));
    }

    @Test
    public void fileNameSaysWhatWasMeasuredAndWhen() {
        assertEquals("tiny-moat-0_224_int8_xnnpack_t4_20261122T100000Z.json", exampleResult().fileName());
    }

    private static BenchmarkResult.Builder validBuilder() {
        return BenchmarkResult.builder()
                .device(DeviceDescription.fromBuild("Google", "Pixel 8", "14", 34, "arm64-v8a", null, null))
                .config(new BenchmarkConfig(Delegate.CPU, 1, 2, 0))
                .artifact(ArtifactName.of("tiny-moat-0_224_int8.tflite"), new int[] {224, 224}, 10, repeat('0', 64))
                .latency(LatencyStats.of(new double[] {1.0, 2.0}), 1.0, 0.0)
                .toolVersion("0.1.0");
    }

    @Test
    public void inconsistentResultsAreRejected() {
        ArtifactName name = ArtifactName.of("tiny-moat-0_224_int8.tflite");
        assertNotNull(validBuilder().build());
        assertThrows(IllegalArgumentException.class,
                () -> validBuilder().artifact(name, new int[] {224, 224}, 10, repeat('A', 64)).build());
        assertThrows(IllegalArgumentException.class,
                () -> validBuilder().artifact(name, new int[] {224}, 10, repeat('0', 64)).build());
        assertThrows(IllegalArgumentException.class,
                () -> validBuilder().artifact(name, null, 0, repeat('0', 64)).build());
        assertThrows(IllegalArgumentException.class,
                () -> validBuilder().latency(LatencyStats.of(new double[] {1.0}), 1.0, 0.0).build());
        assertThrows(IllegalArgumentException.class,
                () -> validBuilder().latency(LatencyStats.of(new double[] {-1.0, 1.0}), 1.0, 0.0).build());
        assertThrows(IllegalArgumentException.class, () -> validBuilder().initMs(-0.5).build());
        assertThrows(IllegalArgumentException.class, () -> validBuilder().toolVersion("0.1 beta").build());
        assertThrows(IllegalArgumentException.class, () -> BenchmarkResult.builder().build());
    }

    private static String repeat(char c, int n) {
        char[] chars = new char[n];
        Arrays.fill(chars, c);
        return new String(chars);
    }

    private static String readResource(String name) throws IOException {
        try (InputStream in = BenchmarkResultTest.class.getResourceAsStream(name)) {
            assertNotNull("test resource " + name + " is not on the classpath", in);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }
}
