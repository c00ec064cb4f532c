package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Random;
import org.junit.Test;

public class IsoTimestampTest {
    @Test
    public void knownInstants() {
        assertEquals("1970-01-01T00:00:00Z", IsoTimestamp.utc(0));
        assertEquals("2026-11-22T10:00:00Z", IsoTimestamp.utc(1_795_341_600_000L));
        assertEquals("2024-02-29T23:59:59Z", IsoTimestamp.utc(1_709_251_199_999L));   // leap day, ms truncated
        assertEquals("1969-12-31T23:59:59Z", IsoTimestamp.utc(-1));
        assertEquals("20261122T100000Z", IsoTimestamp.compact(1_795_341_600_000L));
    }

    @Test
    public void agreesWithJavaTimeOverFourCenturies() {
        Random random = new Random(42);
        long span = 400L * 366 * 86_400_000L;
        for (int i = 0; i < 20_000; i++) {
            long millis = (long) (random.nextDouble() * span) - span / 4;
            String expected = Instant.ofEpochMilli(millis).truncatedTo(ChronoUnit.SECONDS).toString();
            assertEquals("at " + millis, expected, IsoTimestamp.utc(millis));
        }
    }

    @Test
    public void centuryLeapRules() {
        assertEquals("2000-02-29T00:00:00Z", IsoTimestamp.utc(Instant.parse("2000-02-29T00:00:00Z").toEpochMilli()));
        assertEquals("2100-03-01T00:00:00Z", IsoTimestamp.utc(Instant.parse("2100-03-01T00:00:00Z").toEpochMilli()));
        assertEquals("2100-02-28T12:00:00Z", IsoTimestamp.utc(Instant.parse("2100-02-28T12:00:00Z").toEpochMilli()));
    }

    @Test
    public void yearsOutsideFourDigitsAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> IsoTimestamp.utc(Instant.parse("+10000-01-01T00:00:00Z").toEpochMilli()));
    }
}
