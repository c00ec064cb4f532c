package dev.tinymoat.demo.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Variant and precision of an exported model, read from the file name that
 * {@code tinymoat-export} gives it: {@code <variant>_<size>_<precision>.<ext>},
 * e.g. {@code tiny-moat-0_224_int8.tflite} (size {@code 224} or {@code 256x192}).
 */
public final class ArtifactName {
    /** The precisions of the export manifest (docs/formats.md). */
    public static final List<String> PRECISIONS = Collections.unmodifiableList(Arrays.asList(
            "float32", "float16", "dynamic", "int8", "int8-mixed", "weights8"));

    private static final Pattern NAME = Pattern.compile(
            "(.+)_(\\d+)(?:x(\\d+))?_(float32|float16|dynamic|int8|int8-mixed|weights8)\\.[A-Za-z0-9]+");

    private final String file;
    private final String variant;
    private final String precision;

    private ArtifactName(String file, String variant, String precision) {
        this.file = file;
        this.variant = variant;
        this.precision = precision;
    }

    /** The parsed name, or null when {@code file} does not follow the export naming. */
    public static ArtifactName parse(String file) {
        Matcher m = NAME.matcher(file);
        if (!m.matches()) {
            return null;
        }
        return new ArtifactName(file, m.group(1), m.group(4));
    }

    /**
     * For files renamed by hand: the name without extension as the variant, and the
     * precision the input tensor suggests ({@code int8} for integer inputs,
     * {@code float32} otherwise; a float-interface int8 model is reported as float32).
     */
    public static ArtifactName parseOrGuess(String file, TensorType inputType) {
        ArtifactName parsed = parse(file);
        if (parsed != null) {
            return parsed;
        }
        int dot = file.lastIndexOf('.');
        String stem = dot > 0 ? file.substring(0, dot) : file;
        return new ArtifactName(file, stem, inputType.isQuantized() ? "int8" : "float32");
    }

    public String file() {
        return file;
    }

    public String variant() {
        return variant;
    }

    public String precision() {
        return precision;
    }
}
