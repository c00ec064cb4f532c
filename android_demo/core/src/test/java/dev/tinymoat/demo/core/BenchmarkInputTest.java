package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class BenchmarkInputTest {
    @Test
    public void gradientSpansTheFullRangeDeterministically() {
        ArgbImage img = BenchmarkInput.gradient(224, 224);
        assertEquals(224, img.width());
        assertEquals(224 * 224, img.pixels().length);
        assertEquals(ArgbImage.argb(255, 0, 0, 0), img.pixel(0, 0));
        assertEquals(ArgbImage.argb(255, 255, 0, 127), img.pixel(223, 0));
        assertEquals(ArgbImage.argb(255, 0, 255, 127), img.pixel(0, 223));
        assertEquals(ArgbImage.argb(255, 255, 255, 255), img.pixel(223, 223));
        assertEquals(ArgbImage.argb(255, 0, 0, 0), BenchmarkInput.gradient(1, 1).pixel(0, 0));
    }
}
