package dev.tinymoat.demo.core;

import java.util.Locale;

/**
 * The {@code device} object of a latency result, composed from the strings that
 * {@code android.os.Build} offers (passed in, so this stays plain Java).
 */
public final class DeviceDescription {
    public static final String KIND = "android";

    private final String name;
    private final String model;
    private final String os;
    private final String cpu;
    private final String soc;

    public DeviceDescription(String name, String model, String os, String cpu, String soc) {
        this.name = name;
        this.model = model;
        this.os = os;
        this.cpu = cpu;
        this.soc = soc;
    }

    /**
     * @param manufacturer {@code Build.MANUFACTURER}, e.g. "Google"
     * @param model {@code Build.MODEL}, e.g. "Pixel 8"
     * @param release {@code Build.VERSION.RELEASE}, e.g. "14"
     * @param sdkInt {@code Build.VERSION.SDK_INT}
     * @param abi {@code Build.SUPPORTED_ABIS[0]}, e.g. "arm64-v8a"
     * @param cores {@code Runtime.availableProcessors()}
     * @param socManufacturer {@code Build.SOC_MANUFACTURER} (API 31+), or null
     * @param socModel {@code Build.SOC_MODEL} (API 31+), or null
     */
    public static DeviceDescription fromBuild(String manufacturer, String model, String release, int sdkInt,
                                              String abi, int cores, String socManufacturer, String socModel) {
        String name = blankToNull(model);
        String maker = blankToNull(manufacturer);
        if (maker != null && name != null && !name.toLowerCase(Locale.ROOT).startsWith(maker.toLowerCase(Locale.ROOT))) {
            name = capitalize(maker) + " " + name;
        } else if (name == null) {
            name = maker == null ? null : capitalize(maker);
        }
        String os = "Android " + (blankToNull(release) == null ? "?" : release.trim()) + " (API " + sdkInt + ")";
        String cpu = blankToNull(abi) == null ? null : abi.trim() + (cores > 0 ? " (" + cores + " cores)" : "");
        return new DeviceDescription(name, blankToNull(model), os, cpu, soc(socManufacturer, socModel));
    }

    public String name() {
        return name;
    }

    public String model() {
        return model;
    }

    public String os() {
        return os;
    }

    public String cpu() {
        return cpu;
    }

    public String soc() {
        return soc;
    }

    /** "unknown" is what Build.SOC_* report on devices that do not say. */
    private static String soc(String manufacturer, String model) {
        String maker = unknownToNull(manufacturer);
        String part = unknownToNull(model);
        if (part == null) {
            return null;
        }
        if (maker == null || part.toLowerCase(Locale.ROOT).startsWith(maker.toLowerCase(Locale.ROOT))) {
            return part;
        }
        return maker + " " + part;
    }

    private static String unknownToNull(String s) {
        String t = blankToNull(s);
        return t == null || t.equalsIgnoreCase("unknown") ? null : t;
    }

    private static String blankToNull(String s) {
        return s == null || s.trim().isEmpty() ? null : s.trim();
    }

    private static String capitalize(String s) {
        return s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1);
    }
}
