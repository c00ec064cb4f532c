package dev.tinymoat.demo.core;

import java.util.Locale;

/**
 * What a classifier's output holds: probabilities (a softmax in the graph) or logits.
 * Exported models say so by name: the TFLite metadata writer
 * ({@code export/tflite/metadata/image_classifier.py}) names output 0 "probability"
 * or "logits", and exports that name their tensors call them "probabilities" or
 * "logits". A model that says neither is judged frame by frame ({@link #UNKNOWN}).
 */
public enum OutputKind {
    PROBABILITIES,
    LOGITS,
    /** Not stated: scores that already form a distribution are taken as probabilities. */
    UNKNOWN;

    /**
     * From the output's metadata name (first, when it says something) and the
     * interpreter's tensor name; either may be null.
     */
    public static OutputKind fromNames(String metadataName, String tensorName) {
        OutputKind kind = fromName(metadataName);
        return kind != UNKNOWN ? kind : fromName(tensorName);
    }

    /**
     * "probability", "probabilities", "probs" and "logits" as whole words of the name,
     * so that "serving_default_probabilities:0" counts and "logits_head" too, but
     * "StatefulPartitionedCall:0" says nothing.
     */
    static OutputKind fromName(String name) {
        if (name == null) {
            return UNKNOWN;
        }
        for (String word : name.toLowerCase(Locale.ROOT).split("[^a-z0-9]+")) {
            switch (word) {
                case "probability":
                case "probabilities":
                case "probs":
                    return PROBABILITIES;
                case "logits":
                case "logit":
                    return LOGITS;
                default:
                    break;
            }
        }
        return UNKNOWN;
    }

    /** The scores as probabilities: a softmax over logits, the scores themselves otherwise. */
    public float[] toProbabilities(float[] scores) {
        switch (this) {
            case LOGITS:
                return TopK.softmax(scores);
            case PROBABILITIES:
                return scores;
            default:
                return OutputScores.isProbabilityDistribution(scores) ? scores : TopK.softmax(scores);
        }
    }
}
