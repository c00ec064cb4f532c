package dev.tinymoat.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The k best classes of a score vector. Ties keep the lower class index first, so
 * the order is deterministic even for coarse int8 outputs where ties are common.
 * NaN scores rank last.
 */
public final class TopK {
    private TopK() {
    }

    public static List<Prediction> of(float[] scores, int k) {
        if (k < 0) {
            throw new IllegalArgumentException("k must not be negative, got " + k);
        }
        int n = Math.min(k, scores.length);
        // Insertion into a short sorted list: O(len * k), and k is 5.
        List<Prediction> best = new ArrayList<>(n + 1);
        for (int i = 0; i < scores.length && n > 0; i++) {
            float s = scores[i];
            if (best.size() == n && !ranksBefore(s, best.get(n - 1).score())) {
                continue;
            }
            int at = best.size();
            while (at > 0 && ranksBefore(s, best.get(at - 1).score())) {
                at--;
            }
            best.add(at, new Prediction(i, s));
            if (best.size() > n) {
                best.remove(n);
            }
        }
        return Collections.unmodifiableList(best);
    }

    /** Top k after an optional softmax over the scores. */
    public static List<Prediction> of(float[] scores, int k, boolean softmax) {
        return of(softmax ? softmax(scores) : scores, k);
    }

    /** Numerically stable softmax (the maximum is subtracted first), summed in double. */
    public static float[] softmax(float[] logits) {
        float[] out = new float[logits.length];
        if (logits.length == 0) {
            return out;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        for (int i = 0; i < logits.length; i++) {
            out[i] = (float) (e[i] / sum);
        }
        return out;
    }

    /** Strictly better: a later index needs a strictly higher score to move ahead. */
    private static boolean ranksBefore(float candidate, float incumbent) {
        if (Float.isNaN(candidate)) {
            return false;
        }
        return Float.isNaN(incumbent) || candidate > incumbent;
    }
}
