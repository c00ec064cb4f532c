package dev.tinymoat.demo.core;

/**
 * The {@code device} object of a latency result, from the strings that
 * {@code android.os.Build} offers (passed in, so this stays plain Java). The values
 * are spelled as {@code tinymoat-bench} spells them for the same phone over adb
 * ({@code export/latency/android.py}), so results from both line up in a report.
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
     * {@code name} stays null: tinymoat-bench puts the adb serial there, which an app
     * cannot read.
     *
     * @param manufacturer {@code Build.MANUFACTURER} (ro.product.manufacturer), e.g. "Google"
     * @param model {@code Build.MODEL} (ro.product.model), e.g. "Pixel 8"
     * @param release {@code Build.VERSION.RELEASE}, e.g. "14"
     * @param sdkInt {@code Build.VERSION.SDK_INT}
     * @param abi {@code Build.SUPPORTED_ABIS[0]} (ro.product.cpu.abi), e.g. "arm64-v8a"
     * @param socManufacturer {@code Build.SOC_MANUFACTURER} (API 31+), or null
     * @param socModel {@code Build.SOC_MODEL} (API 31+), or null
     */
    public static DeviceDescription fromBuild(String manufacturer, String model, String release, int sdkInt,
                                              String abi, String socManufacturer, String socModel) {
        String version = known(release);
        String socPart = known(socModel);
        return new DeviceDescription(
                null,
                join(known(manufacturer), known(model)),
                version == null ? null : "Android " + version + (sdkInt > 0 ? " (API " + sdkInt + ")" : ""),
                known(abi),
                socPart == null ? null : join(known(socManufacturer), socPart));
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

    private static String join(String first, String second) {
        if (first == null) {
            return second;
        }
        return second == null ? first : first + " " + second;
    }

    /** Trimmed, or null for blanks and {@code Build.UNKNOWN} ("unknown"), as adb reports empty props. */
    private static String known(String s) {
        if (s == null) {
            return null;
        }
        String t = s.trim();
        return t.isEmpty() || t.equals("unknown") ? null : t;
    }
}
