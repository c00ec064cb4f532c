package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class ImageClassifierTest {
    private static final List<String> LABELS = Arrays.asList("zero", "one", "two", "three", "four", "five");

    /** 2x1 image: pixel values chosen so that the fake model's logits are easy to follow. */
    private static final ArgbImage IMAGE = new ArgbImage(new int[] {
        ArgbImage.argb(255, 130, 135, 129), ArgbImage.argb(255, 135, 128, 140)}, 2, 1);

    @Test
    public void int8ModelGetsQuantizedInputAndItsLogitsAreSoftmaxed() {
        TensorSpec input = new TensorSpec(new int[] {1, 1, 2, 3}, TensorType.INT8, new Quantization(1f, -128));
        TensorSpec output = new TensorSpec(new int[] {1, 6}, TensorType.INT8, new Quantization(0.5f, 0));
        byte[][] seen = new byte[1][];
        // The fake model echoes its six input values as int8 logits.
        ImageClassifier.Engine engine = (in, out) -> {
            assertEquals(0, in.position());
            assertEquals(6, in.remaining());
            seen[0] = new byte[6];
            in.duplicate().get(seen[0]);
            out.put(seen[0]);
        };
        ImagePreprocessor pre = ImageClassifier.preprocessorFor(input, Normalization.NONE, 0);
        ImageClassifier classifier = new ImageClassifier(engine, pre, output, LABELS);

        List<Classification> top = classifier.classify(IMAGE, 3);

        assertArrayEquals(new byte[] {2, 7, 1, 7, 0, 12}, seen[0]);   // value - 128
        float[] probabilities = TopK.softmax(new float[] {1f, 3.5f, 0.5f, 3.5f, 0f, 6f});
        assertEquals("five", top.get(0).label());
        assertEquals(5, top.get(0).index());
        assertEquals(probabilities[5], top.get(0).score(), 0f);
        assertEquals("one", top.get(1).label());      // tie with "three": lower index first
        assertEquals("three", top.get(2).label());
        assertEquals(probabilities[3], top.get(2).score(), 0f);
    }

    @Test
    public void probabilityOutputsAreNotSoftmaxedAgainAndBuffersAreReused() {
        TensorSpec input = new TensorSpec(new int[] {1, 1, 2, 3}, TensorType.FLOAT32, null);
        TensorSpec output = new TensorSpec(new int[] {1, 3}, TensorType.FLOAT32, null);
        int[] calls = {0};
        ImageClassifier.Engine engine = (in, out) -> {
            calls[0]++;
            assertEquals(24, in.remaining());
            assertEquals((130 - 123.675f) / 58.395f, in.getFloat(0), 1e-6f);
            out.putFloat(0.1f).putFloat(0.6f).putFloat(0.3f);
        };
        ImageClassifier classifier = new ImageClassifier(engine,
                ImageClassifier.preprocessorFor(input, Normalization.IMAGENET, 1.0), output, null);
        for (int i = 0; i < 2; i++) {
            List<Classification> top = classifier.classify(IMAGE, 5);
            assertEquals(3, top.size());
            assertEquals("class 1", top.get(0).label());
            assertEquals(0.6f, top.get(0).score(), 0f);
            assertEquals(0.1f, top.get(2).score(), 0f);
        }
        assertEquals(2, calls[0]);
    }

    @Test
    public void tensorSpecDescribesImageInputs() {
        TensorSpec spec = new TensorSpec(new int[] {1, 224, 160, 3}, TensorType.UINT8, new Quantization(1f, 0));
        assertArrayEquals(new int[] {224, 160}, spec.imageSize());
        assertEquals(224 * 160 * 3, spec.byteCount());
        ImagePreprocessor pre = ImageClassifier.preprocessorFor(spec, Normalization.NONE, 0);
        assertEquals(160, pre.width());
        assertEquals(224, pre.height());
        assertEquals(TensorType.UINT8, pre.type());
        assertEquals(1000 * 4, new TensorSpec(new int[] {1, 1000}, TensorType.FLOAT32, null).byteCount());
    }

    @Test
    public void tensorSpecRejectsWhatTheDemoCannotFeed() {
        assertThrows(IllegalArgumentException.class,
                () -> new TensorSpec(new int[] {1, 3, 224, 224}, TensorType.FLOAT32, null).imageSize());
        assertThrows(IllegalArgumentException.class,
                () -> new TensorSpec(new int[] {2, 224, 224, 3}, TensorType.FLOAT32, null).imageSize());
        assertThrows(IllegalArgumentException.class, () -> new TensorSpec(new int[] {1, 10}, TensorType.INT8, null));
        assertThrows(IllegalArgumentException.class, () -> new TensorSpec(new int[] {1, 0}, TensorType.FLOAT32, null));
    }
}
