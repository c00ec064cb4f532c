package dev.tinymoat.demo.core;

import java.util.Locale;

/** Where LiteRT runs the model; {@link #id()} is the value of {@code runtime.delegate}. */
public enum Delegate {
    /** LiteRT's built-in CPU kernels, XNNPACK switched off. */
    CPU("cpu"),
    /** The XNNPACK CPU delegate. */
    XNNPACK("xnnpack"),
    /** The GPU delegate (OpenCL or OpenGL ES). */
    GPU("gpu"),
    /** Android's Neural Networks API (deprecated from Android 15, still on older devices). */
    NNAPI("nnapi");

    private final String id;

    Delegate(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    public static Delegate fromId(String id) {
        String wanted = id == null ? "" : id.trim().toLowerCase(Locale.ROOT);
        for (Delegate d : values()) {
            if (d.id.equals(wanted)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown delegate '" + id + "': choose cpu, xnnpack, gpu or nnapi");
    }
}
