package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class TopKTest {
    private static List<Integer> indices(List<Prediction> predictions) {
        List<Integer> out = new ArrayList<>();
        for (Prediction p : predictions) {
            out.add(p.index());
        }
        return out;
    }

    @Test
    public void returnsTheBestScoresInDescendingOrder() {
        float[] scores = {0.1f, 0.9f, 0.3f, 0.7f, 0.5f, 0.2f};
        List<Prediction> top = TopK.of(scores, 3);
        assertEquals(Arrays.asList(1, 3, 4), indices(top));
        assertEquals(0.9f, top.get(0).score(), 0f);
        assertEquals(new Prediction(4, 0.5f), top.get(2));
    }

    @Test
    public void tiesKeepTheLowerIndexFirst() {
        float[] scores = {2f, 5f, 5f, 1f, 5f, 2f};
        assertEquals(Arrays.asList(1, 2, 4, 0, 5), indices(TopK.of(scores, 5)));
        assertEquals(Arrays.asList(1, 2), indices(TopK.of(scores, 2)));
    }

    @Test
    public void tiesAreStableForDequantizedInt8Logits() {
        byte[] raw = {10, 12, 12, -3, 12, 10};
        Quantization q = new Quantization(0.1f, 2);
        float[] scores = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            scores[i] = q.dequantize(raw[i]);
        }
        assertEquals(Arrays.asList(1, 2, 4, 0, 5, 3), indices(TopK.of(scores, 10)));
    }

    @Test
    public void kLargerThanTheScoresAndZero() {
        assertEquals(Arrays.asList(1, 0), indices(TopK.of(new float[] {1f, 2f}, 5)));
        assertTrue(TopK.of(new float[] {1f, 2f}, 0).isEmpty());
        assertTrue(TopK.of(new float[0], 5).isEmpty());
        assertThrows(IllegalArgumentException.class, () -> TopK.of(new float[] {1f}, -1));
    }

    @Test
    public void nanRanksLast() {
        float[] scores = {Float.NaN, 1f, Float.NaN, 3f};
        assertEquals(Arrays.asList(3, 1, 0), indices(TopK.of(scores, 3)));
    }

    @Test
    public void softmaxIsANormalisedMonotoneMap() {
        float[] logits = {1f, 2f, 3f};
        float[] p = TopK.softmax(logits);
        double e1 = Math.exp(1), e2 = Math.exp(2), e3 = Math.exp(3), sum = e1 + e2 + e3;
        assertEquals(e1 / sum, p[0], 1e-7);
        assertEquals(e2 / sum, p[1], 1e-7);
        assertEquals(e3 / sum, p[2], 1e-7);
        assertEquals(Arrays.asList(2, 1, 0), indices(TopK.of(logits, 3, true)));
        assertEquals(e3 / sum, TopK.of(logits, 1, true).get(0).score(), 1e-7);
    }

    @Test
    public void softmaxIsStableForLargeLogits() {
        float[] p = TopK.softmax(new float[] {1000f, 1001f});
        assertFalse(Float.isNaN(p[0]));
        assertEquals(1 / (1 + Math.E), p[0], 1e-6);
        assertEquals(Math.E / (1 + Math.E), p[1], 1e-6);
    }

    @Test
    public void withoutSoftmaxScoresAreUntouched() {
        List<Prediction> top = TopK.of(new float[] {-4f, 7.5f}, 1, false);
        assertEquals(7.5f, top.get(0).score(), 0f);
    }
}
