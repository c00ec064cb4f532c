package dev.tinymoat.demo.core;

import java.util.regex.Pattern;

/**
 * One latency measurement in the project's {@code tinymoat.latency/1} format (the
 * JSON Schema lives in {@code export/latency/result.schema.json}), the file that
 * {@code tinymoat-report} reads beside {@code tinymoat-bench}'s results.
 */
public final class BenchmarkResult {
    public static final String SCHEMA = "tinymoat.latency/1";
    public static final String RUNTIME_NAME = "litert";
    public static final String TOOL_NAME = "tinymoat-android-demo";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

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
        this.initMs = b.initMs;
        this.firstInferenceMs = b.firstInferenceMs;
        this.peakMemoryMb = b.peakMemoryMb;
        this.harnessOverheadMs = b.harnessOverheadMs;
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
        if (latency.count() != config.runs()) {
            throw new IllegalArgumentException("latency has " + latency.count() + " samples, config says "
                    + config.runs() + " runs");
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

    /**
     * A file name that sorts by time and says what was measured:
     * {@code tiny-moat-0_int8_xnnpack_t4_20261122T100000Z.json}.
     */
    public String fileName() {
        return artifact.variant() + "_" + artifact.precision() + "_" + config.delegate().id()
                + "_t" + config.threads() + "_" + IsoTimestamp.compact(createdMillis) + ".json";
    }

    /** The result document, fields in schema order, ending without a newline. */
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
        private Double harnessOverheadMs;
        private long createdMillis;
        private String toolVersion;

        private Builder() {
        }

        public Builder device(DeviceDescription device) {
            this.device = device;
            return this;
        }

        /** The LiteRT version, or null when unknown. */
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
            this.latency = timings.stats();
            this.firstInferenceMs = timings.firstInferenceMs();
            this.harnessOverheadMs = timings.harnessOverheadMs();
            return this;
        }

        public Builder latency(LatencyStats latency, Double firstInferenceMs, Double harnessOverheadMs) {
            this.latency = latency;
            this.firstInferenceMs = firstInferenceMs;
            this.harnessOverheadMs = harnessOverheadMs;
            return this;
        }

        /** Interpreter creation (model load plus delegate set-up), or null. */
        public Builder initMs(Double initMs) {
            this.initMs = initMs;
            return this;
        }

        public Builder peakMemoryMb(Double peakMemoryMb) {
            this.peakMemoryMb = peakMemoryMb;
            return this;
        }

        public Builder createdMillis(long epochMillis) {
            this.createdMillis = epochMillis;
            return this;
        }

        /** The app's version name; the tool field becomes "tinymoat-android-demo VERSION". */
        public Builder toolVersion(String version) {
            this.toolVersion = version;
            return this;
        }

        public BenchmarkResult build() {
            return new BenchmarkResult(this);
        }
    }
}
