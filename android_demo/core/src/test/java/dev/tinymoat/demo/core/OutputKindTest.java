package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class OutputKindTest {
    @Test
    public void namesTheExporterWritesAreRecognised() {
        assertEquals(OutputKind.PROBABILITIES, OutputKind.fromNames("probability", null));
        assertEquals(OutputKind.PROBABILITIES, OutputKind.fromNames("probabilities", null));
        assertEquals(OutputKind.LOGITS, OutputKind.fromNames("logits", null));
        assertEquals(OutputKind.PROBABILITIES, OutputKind.fromNames(null, "serving_default_probabilities:0"));
        assertEquals(OutputKind.LOGITS, OutputKind.fromNames(null, "StatefulPartitionedCall:0/logits"));
        assertEquals(OutputKind.LOGITS, OutputKind.fromNames("Logits", null));
    }

    @Test
    public void namesThatSayNothingLeaveItUnknown() {
        assertEquals(OutputKind.UNKNOWN, OutputKind.fromNames(null, null));
        assertEquals(OutputKind.UNKNOWN, OutputKind.fromNames("scores", "StatefulPartitionedCall:0"));
        assertEquals(OutputKind.UNKNOWN, OutputKind.fromNames("", "Identity"));
        assertEquals(OutputKind.UNKNOWN, OutputKind.fromNames(null, "problogitsx"));   // not a word of its own
    }

    @Test
    public void metadataNameWinsOverTheTensorName() {
        assertEquals(OutputKind.LOGITS, OutputKind.fromNames("logits", "probabilities"));
        assertEquals(OutputKind.PROBABILITIES, OutputKind.fromNames("probability", "logits"));
        assertEquals(OutputKind.LOGITS, OutputKind.fromNames("image classifier output", "logits"));
    }

    @Test
    public void logitsAreSoftmaxedEvenWhenTheyHappenToSumToOne() {
        float[] scores = {0.2f, 0.3f, 0.5f};
        assertArrayEquals(TopK.softmax(scores), OutputKind.LOGITS.toProbabilities(scores), 0f);
        assertSame(scores, OutputKind.UNKNOWN.toProbabilities(scores));   // the heuristic takes them as they are
    }

    @Test
    public void probabilitiesAreKeptEvenWhenQuantizationMovesTheirSum() {
        float[] dequantized = {0.5f, 0.4f, 0.2f};   // sums to 1.1
        assertSame(dequantized, OutputKind.PROBABILITIES.toProbabilities(dequantized));
        assertArrayEquals(TopK.softmax(dequantized), OutputKind.UNKNOWN.toProbabilities(dequantized), 0f);
    }

    @Test
    public void classifierAppliesTheStatedKind() {
        TensorSpec input = new TensorSpec(new int[] {1, 1, 1, 3}, TensorType.FLOAT32, null);
        TensorSpec output = new TensorSpec(new int[] {1, 3}, TensorType.FLOAT32, null);
        ImageClassifier.Engine engine = (in, out) -> out.putFloat(0.2f).putFloat(0.3f).putFloat(0.5f);
        ImagePreprocessor pre = ImageClassifier.preprocessorFor(input, Normalization.NONE, 0);
        ArgbImage image = new ArgbImage(new int[] {ArgbImage.argb(255, 1, 2, 3)}, 1, 1);
        List<String> labels = Arrays.asList("a", "b", "c");

        ImageClassifier logits = new ImageClassifier(engine, pre, output, labels, OutputKind.LOGITS);
        assertArrayEquals(TopK.softmax(new float[] {0.2f, 0.3f, 0.5f}), logits.probabilities(image), 0f);
        ImageClassifier probs = new ImageClassifier(engine, pre, output, labels, OutputKind.PROBABILITIES);
        assertArrayEquals(new float[] {0.2f, 0.3f, 0.5f}, probs.probabilities(image), 0f);
        assertEquals(0.5f, probs.classify(image, 1).get(0).score(), 0f);
        assertEquals("c", probs.top(new float[] {0.1f, 0.1f, 0.8f}, 1).get(0).label());
        assertThrows(IllegalArgumentException.class, () -> new ImageClassifier(engine, pre, output, labels, null));
    }
}
