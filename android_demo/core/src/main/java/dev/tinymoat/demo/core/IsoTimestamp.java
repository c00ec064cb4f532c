package dev.tinymoat.demo.core;

/**
 * UTC timestamps like {@code 2026-11-22T10:00:00Z} (whole seconds), without
 * {@code java.time}, which needs API 26 while the app supports API 24.
 */
public final class IsoTimestamp {
    private static final long MILLIS_PER_DAY = 86_400_000L;

    private IsoTimestamp() {
    }

    public static String utc(long epochMillis) {
        long days = Math.floorDiv(epochMillis, MILLIS_PER_DAY);
        long secondOfDay = Math.floorMod(epochMillis, MILLIS_PER_DAY) / 1000;
        long[] ymd = civilFromDays(days);
        if (ymd[0] < 0 || ymd[0] > 9999) {
            throw new IllegalArgumentException("year out of range for ISO-8601: " + ymd[0]);
        }
        return pad(ymd[0], 4) + '-' + pad(ymd[1], 2) + '-' + pad(ymd[2], 2)
                + 'T' + pad(secondOfDay / 3600, 2) + ':' + pad(secondOfDay / 60 % 60, 2)
                + ':' + pad(secondOfDay % 60, 2) + 'Z';
    }

    /** The same instant without separators, for file names: {@code 20261122T100000Z}. */
    public static String compact(long epochMillis) {
        return utc(epochMillis).replace("-", "").replace(":", "");
    }

    /**
     * Proleptic Gregorian {year, month, day} of a day count since 1970-01-01, by
     * counting 400-year eras whose years start on March 1st (so the leap day is last).
     */
    static long[] civilFromDays(long days) {
        long z = days + 719_468;                       // days since 0000-03-01
        long era = Math.floorDiv(z, 146_097);          // 400-year eras
        long dayOfEra = z - era * 146_097;             // [0, 146096]
        long yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365;
        long dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);  // from March 1st
        long mp = (5 * dayOfYear + 2) / 153;           // month index, March = 0
        long day = dayOfYear - (153 * mp + 2) / 5 + 1;
        long month = mp < 10 ? mp + 3 : mp - 9;
        long year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
        return new long[] {year, month, day};
    }

    private static String pad(long value, int width) {
        StringBuilder s = new StringBuilder(Long.toString(value));
        while (s.length() < width) {
            s.insert(0, '0');
        }
        return s.toString();
    }
}
