package dev.tinymoat.demo.core;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a model's file name says about it. {@code tinymoat-export} names artifacts
 * {@code <variant>_<size>_<precision>.<ext>}, e.g. {@code tiny-moat-0_224_int8.tflite}.
 * The precision is found like {@code tinymoat-bench} finds it
 * ({@code export/latency/artifacts.py precision_from_name}); what the name does not
 * say is null, never guessed.
 */
public final class ArtifactName {
    /** Checked in this order, so that "int8-mixed" wins over its "int8" prefix. */
    private static final String[] PRECISIONS = {"int8-mixed", "weights8", "float32", "float16", "dynamic", "int8"};
    private static final Pattern EXPORT_NAME = Pattern.compile("(.+)_\\d+(?:x\\d+)?_[a-z0-9-]+");

    private final String file;
    private final String variant;
    private final String precision;

    private ArtifactName(String file, String variant, String precision) {
        this.file = file;
        this.variant = variant;
        this.precision = precision;
    }

    public static ArtifactName of(String file) {
        if (file == null || file.isEmpty() || file.contains("/")) {
            throw new IllegalArgumentException("expected a file name without directory, got " + file);
        }
        String stem = stem(file);
        String precision = null;
        for (String p : PRECISIONS) {
            if (Pattern.compile("(^|[_.\\-])" + Pattern.quote(p) + "($|[_.\\-])").matcher(stem).find()) {
                precision = p;
                break;
            }
        }
        Matcher m = EXPORT_NAME.matcher(stem);
        String variant = precision != null && m.matches() && stem.endsWith("_" + precision) ? m.group(1) : null;
        return new ArtifactName(file, variant, precision);
    }

    public String file() {
        return file;
    }

    /** The file name without its extension. */
    public String stem() {
        return stem(file);
    }

    /** The variant when the name follows the export naming, else null. */
    public String variant() {
        return variant;
    }

    /** The precision the name mentions, else null. */
    public String precision() {
        return precision;
    }

    private static String stem(String file) {
        int dot = file.lastIndexOf('.');
        return dot > 0 ? file.substring(0, dot) : file;
    }
}
