package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class QuantizationTest {
    private final Quantization unit = new Quantization(1f, 0);

    @Test
    public void roundsHalfToEvenLikeTheExportersNpRound() {
        assertEquals(0, unit.quantize(0.5f, TensorType.INT8));
        assertEquals(0, unit.quantize(-0.5f, TensorType.INT8));
        assertEquals(2, unit.quantize(1.5f, TensorType.INT8));
        assertEquals(2, unit.quantize(2.5f, TensorType.INT8));
        assertEquals(-2, unit.quantize(-2.5f, TensorType.INT8));
        assertEquals(0, unit.quantize(0.49999997f, TensorType.INT8));
        assertEquals(1, unit.quantize(0.50000006f, TensorType.INT8));
    }

    @Test
    public void zeroPointIsAddedBeforeRounding() {
        // 0.5 / 1 + 3 = 3.5 rounds to the even 4; rounding first would give 0 + 3 = 3.
        assertEquals(4, new Quantization(1f, 3).quantize(0.5f, TensorType.INT8));
    }

    @Test
    public void addsZeroPointAndClampsToTheType() {
        Quantization q = new Quantization(0.5f, 10);
        assertEquals(12, q.quantize(1f, TensorType.INT8));
        assertEquals(127, q.quantize(1000f, TensorType.INT8));
        assertEquals(-128, q.quantize(-1000f, TensorType.INT8));
        assertEquals(255, q.quantize(1000f, TensorType.UINT8));
        assertEquals(0, q.quantize(-1000f, TensorType.UINT8));
        assertEquals(127, q.quantize(Float.POSITIVE_INFINITY, TensorType.INT8));
    }

    @Test
    public void dequantizeInvertsQuantize() {
        Quantization q = new Quantization(0.25f, -3);
        assertEquals(0.75f, q.dequantize(0), 0f);
        assertEquals(-0.5f, q.dequantize(-5), 0f);
        assertEquals(1.0f, q.dequantize(q.quantize(1.0f, TensorType.INT8)), 0f);
    }

    @Test
    public void rejectsBadScalesNanAndFloatTargets() {
        assertThrows(IllegalArgumentException.class, () -> new Quantization(0f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Quantization(-1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Quantization(Float.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> unit.quantize(Float.NaN, TensorType.INT8));
        assertThrows(IllegalArgumentException.class, () -> unit.quantize(1f, TensorType.FLOAT32));
    }
}
