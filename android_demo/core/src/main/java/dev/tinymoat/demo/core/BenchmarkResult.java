package dev.tinymoat.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One latency measurement in the project's {@code tinymoat.latency/1} format, the
 * file that {@code tinymoat-report} merges with {@code tinymoat-bench}'s results.
 * Field names, order and meaning follow {@code export/latency/result.schema.json};
 * {@code tests/test_android_demo_java.py} validates the committed example against it.
 */
public final class BenchmarkResult {
    public static final String SCHEMA = "tinymoat.latency/1";
    public static final String RUNTIME_NAME = "litert";
    /** The schema's tool pattern is {@code ^tinymoat(-[a-z]+)? [^ ]+$}. */
    public static final String TOOL_NAME = "tinymoat-android";

    static final String NOTE_NO_SERIAL = "device.name is null: an app cannot read the adb serial";
    static final String NOTE_RUNTIME_VERSION =
            "runtime.version is the version of the LiteRT Android library (com.google.ai.edge.litert:litert)";
    static final String NOTE_VARIANT_FROM_NAME =
            "artifact.variant is read from the export file name; the app has no manifest.json";
    static final String NOTE_NO_VARIANT =
            "artifact.variant is null: the file name does not follow the export naming and the app has no manifest.json";
    static final String NOTE_PEAK = "peak_memory_mb is the growth of the app process's peak resident set (VmHWM) "
            + "from before interpreter creation to after the last run";
    static final String NOTE_PEAK_RESET = "; the peak was reset first (/proc/self/clear_refs)";
    static final String NOTE_PEAK_NOT_RESET = "; the peak could not be reset first, so growth that stays below "
            + "an earlier peak of the app is not seen";
    static final String NOTE_NO_PEAK = "peak_memory_mb is null: /proc/self/status had no VmHWM";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern VERSION = Pattern.compile("[^ ]+");

    private final DeviceDescription device;
    private final String runtimeVersion;
    private final BenchmarkConfig config;
    private final ArtifactName artifact;
    private final int[] inputSize;
    private final long sizeBytes;
    private final String sha256;
    private final LatencyStats latency;
    private final Double initMs;
    private final Double firstInferenceMs;
    private final Double peakMemoryMb;
    private final boolean peakWasReset;
    private final Double harnessOverheadMs;
    private final long createdMillis;
    private final String toolVersion;

    private BenchmarkResult(Builder b) {
        this.device = require(b.device, "device");
        this.runtimeVersion = b.runtimeVersion;
        this.config = require(b.config, "config");
        this.artifact = require(b.artifact, "artifact");
        this.inputSize = b.inputSize == null ? null : b.inputSize.clone();
        this.sizeBytes = b.sizeBytes;
        this.sha256 = require(b.sha256, "sha256");
        this.latency = require(b.latency, "latency");
        this.initMs = nonNegative(b.initMs, "init_ms");
        this.firstInferenceMs = nonNegative(b.firstInferenceMs, "first_inference_ms");
        this.peakMemoryMb = nonNegative(b.peakMemoryMb, "peak_memory_mb");
        this.peakWasReset = b.peakWasReset;
        this.harnessOverheadMs = nonNegative(b.harnessOverheadMs, "harness_overhead_ms");
        this.createdMillis = b.createdMillis;
        this.toolVersion = require(b.toolVersion, "tool version");
        if (inputSize != null && (inputSize.length != 2 || inputSize[0] <= 0 || inputSize[1] <= 0)) {
            throw new IllegalArgumentException("input_size must be [height, width] with positive values");
        }
        if (sizeBytes <= 0) {
            throw new IllegalArgumentException("size_bytes must be positive, got " + sizeBytes);
        }
        if (!SHA256.matcher(sha256).matches()) {
            throw new IllegalArgumentException("sha256 must be 64 lower-case hex digits, got " + sha256);
        }
        if (!VERSION.matcher(toolVersion).matches()) {
            throw new IllegalArgumentException("tool version must be one word, got '" + toolVersion + "'");
        }
        if (latency.count() != config.runs()) {
            throw new IllegalArgumentException("latency has " + latency.count() + " samples, config says "
                    + config.runs() + " runs");
        }
        if (latency.min() < 0) {
            throw new IllegalArgumentException("latency samples must not be negative, got " + latency.min());
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public String created() {
        return IsoTimestamp.utc(createdMillis);
    }

    public String tool() {
        return TOOL_NAME + " " + toolVersion;
    }

    public LatencyStats latency() {
        return latency;
    }

    /** Caveats about this measurement, derived from what is known and what is null. */
    public List<String> notes() {
        List<String> notes = new ArrayList<>();
        if (device.name() == null) {
            notes.add(NOTE_NO_SERIAL);
        }
        if (runtimeVersion != null) {
            notes.add(NOTE_RUNTIME_VERSION);
        }
        notes.add(artifact.variant() != null ? NOTE_VARIANT_FROM_NAME : NOTE_NO_VARIANT);
        if (peakMemoryMb != null) {
            notes.add(NOTE_PEAK + (peakWasReset ? NOTE_PEAK_RESET : NOTE_PEAK_NOT_RESET));
        } else {
            notes.add(NOTE_NO_PEAK);
        }
        return Collections.unmodifiableList(notes);
    }

    /**
     * A file name that says what was measured and sorts by time:
     * {@code tiny-moat-0_224_int8_xnnpack_t4_20261122T100000Z.json}.
     */
    public String fileName() {
        return artifact.stem() + "_" + config.delegate().id() + "_t" + config.threads()
                + "_" + IsoTimestamp.compact(createdMillis) + ".json";
    }

    /** The result document, fields in schema order, without a final newline. */
    public String toJson() {
        JsonWriter w = new JsonWriter();
        w.beginObject();
        w.name("schema").value(SCHEMA);
        w.name("device").beginObject()
                .name("kind").value(DeviceDescription.KIND)
                .name("name").value(device.name())
                .name("model").value(device.model())
                .name("os").value(device.os())
                .name("cpu").value(device.cpu())
                .name("soc").value(device.soc())
                .endObject();
        w.name("runtime").beginObject()
                .name("name").value(RUNTIME_NAME)
                .name("version").value(runtimeVersion)
                .name("delegate").value(config.delegate().id())
                .name("threads").value(config.threads())
                .endObject();
        w.name("artifact").beginObject()
                .name("file").value(artifact.file())
                .name("variant").value(artifact.variant())
                .name("precision").value(artifact.precision())
                .name("input_size");
        if (inputSize == null) {
            w.nullValue();
        } else {
            w.beginArray().value(inputSize[0]).value(inputSize[1]).endArray();
        }
        w.name("size_bytes").value(sizeBytes)
                .name("sha256").value(sha256)
                .endObject();
        w.name("latency_ms").beginObject()
                .name("warmup").value(config.warmup())
                .name("runs").value(config.runs())
                .name("mean").value(latency.mean())
                .name("median").value(latency.median())
                .name("p90").value(latency.p90())
                .name("p99").value(latency.p99())
                .name("min").value(latency.min())
                .name("max").value(latency.max())
                .name("stdev").value(latency.stdev())
                .endObject();
        w.name("init_ms").value(initMs);
        w.name("first_inference_ms").value(firstInferenceMs);
        w.name("peak_memory_mb").value(peakMemoryMb);
        w.name("harness_overhead_ms").value(harnessOverheadMs);
        w.name("validation").nullValue();
        w.name("notes").beginArray();
        for (String note : notes()) {
            w.value(note);
        }
        w.endArray();
        w.name("created").value(created());
        w.name("tool").value(tool());
        w.endObject();
        return w.toString();
    }

    private static <T> T require(T value, String what) {
        if (value == null) {
            throw new IllegalArgumentException(what + " is required");
        }
        return value;
    }

    private static Double nonNegative(Double value, String what) {
        if (value != null && !(value >= 0)) {
            throw new IllegalArgumentException(what + " must be a non-negative number or null, got " + value);
        }
        return value;
    }

    public static final class Builder {
        private DeviceDescription device;
        private String runtimeVersion;
        private BenchmarkConfig config;
        private ArtifactName artifact;
        private int[] inputSize;
        private long sizeBytes;
        private String sha256;
        private LatencyStats latency;
        private Double initMs;
        private Double firstInferenceMs;
        private Double peakMemoryMb;
        private boolean peakWasReset;
        private Double harnessOverheadMs;
        private long createdMillis;
        private String toolVersion;

        private Builder() {
        }

        public Builder device(DeviceDescription device) {
            this.device = device;
            return this;
        }

        /** The LiteRT library version, or null when unknown. */
        public Builder runtimeVersion(String version) {
            this.runtimeVersion = version;
            return this;
        }

        public Builder config(BenchmarkConfig config) {
            this.config = config;
            return this;
        }

        /**
         * @param inputSize {height, width} of the input tensor, or null
         * @param sha256 lower-case hex digest of the model file
         */
        public Builder artifact(ArtifactName name, int[] inputSize, long sizeBytes, String sha256) {
            this.artifact = name;
            this.inputSize = inputSize;
            this.sizeBytes = sizeBytes;
            this.sha256 = sha256;
            return this;
        }

        /** Latency statistics, first inference and harness overhead from one timing loop. */
        public Builder timings(TimingLoop.Timings timings) {
            return latency(timings.stats(), timings.firstInferenceMs(), timings.harnessOverheadMs());
        }

        public Builder latency(LatencyStats latency, Double firstInferenceMs, Double harnessOverheadMs) {
            this.latency = latency;
            this.firstInferenceMs = firstInferenceMs;
            this.harnessOverheadMs = harnessOverheadMs;
            return this;
        }

        /** Interpreter creation plus tensor allocation, or null. */
        public Builder initMs(Double initMs) {
            this.initMs = initMs;
            return this;
        }

        /**
         * @param growthMb {@link PeakMemory#growthMb}, or null when it could not be read
         * @param peakWasReset whether the peak was reset before the first reading
         */
        public Builder peakMemory(Double growthMb, boolean peakWasReset) {
            this.peakMemoryMb = growthMb;
            this.peakWasReset = peakWasReset;
            return this;
        }

        public Builder createdMillis(long epochMillis) {
            this.createdMillis = epochMillis;
            return this;
        }

        /** The app's version name; the tool field becomes "tinymoat-android VERSION". */
        public Builder toolVersion(String version) {
            this.toolVersion = version;
            return this;
        }

        public BenchmarkResult build() {
            return new BenchmarkResult(this);
        }
    }
}
