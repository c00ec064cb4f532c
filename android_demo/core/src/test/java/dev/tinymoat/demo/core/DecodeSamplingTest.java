package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class DecodeSamplingTest {
    @Test
    public void largestPowerOfTwoThatStaysAboveTheTarget() {
        assertEquals(8, DecodeSampling.inSampleSize(4032, 3024, 224, 224));   // 504x378
        assertEquals(1, DecodeSampling.inSampleSize(300, 300, 224, 224));
        assertEquals(2, DecodeSampling.inSampleSize(448, 448, 224, 224));
        assertEquals(1, DecodeSampling.inSampleSize(100, 100, 224, 224));
        assertEquals(2, DecodeSampling.inSampleSize(2000, 500, 224, 224));    // the short side decides
        assertThrows(IllegalArgumentException.class, () -> DecodeSampling.inSampleSize(0, 1, 1, 1));
    }
}
