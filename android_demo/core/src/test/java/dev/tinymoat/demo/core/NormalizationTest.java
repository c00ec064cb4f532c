package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class NormalizationTest {
    @Test
    public void imagenetMatchesThePythonPreprocessing() {
        // tinymoat/preprocess.py: mean (0.485, 0.456, 0.406) * 255, std (0.229, 0.224, 0.225) * 255 as float32.
        assertEquals((float) (0.485 * 255), Normalization.IMAGENET.mean(0), 0f);
        assertEquals((float) (0.456 * 255), Normalization.IMAGENET.mean(1), 0f);
        assertEquals((float) (0.406 * 255), Normalization.IMAGENET.mean(2), 0f);
        assertEquals((float) (0.229 * 255), Normalization.IMAGENET.std(0), 0f);
        assertEquals((float) (0.224 * 255), Normalization.IMAGENET.std(1), 0f);
        assertEquals((float) (0.225 * 255), Normalization.IMAGENET.std(2), 0f);
    }

    @Test
    public void singleValuesApplyToAllChannels() {
        Normalization n = Normalization.of(new float[] {127.5f}, new float[] {127.5f});
        for (int c = 0; c < 3; c++) {
            assertEquals(-1f, n.apply(c, 0f), 0f);
            assertEquals(1f, n.apply(c, 255f), 0f);
        }
    }

    @Test
    public void threeValuesArePerChannel() {
        Normalization n = Normalization.of(new float[] {1, 2, 3}, new float[] {2, 4, 8});
        assertEquals(4.5f, n.apply(0, 10f), 0f);
        assertEquals(2f, n.apply(1, 10f), 0f);
        assertEquals(0.875f, n.apply(2, 10f), 0f);
    }

    @Test
    public void rejectsWrongLengthsAndNonPositiveStd() {
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(new float[] {1, 2}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(new float[] {1}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(new float[] {1}, new float[] {Float.NaN}));
        assertThrows(IllegalArgumentException.class, () -> Normalization.of(null, new float[] {1}));
    }

    @Test
    public void variantsPickTheirCheckpointNormalisation() {
        assertSame(Normalization.IMAGENET, Normalization.forVariant("tiny-moat-0"));
        assertSame(Normalization.IMAGENET, Normalization.forVariant("moat-1"));
        assertSame(Normalization.INCEPTION, Normalization.forVariant("moat-2"));
        assertSame(Normalization.INCEPTION, Normalization.forVariant("MOAT-4"));
        assertSame(Normalization.IMAGENET, Normalization.forVariant(null));
    }

    @Test
    public void metadataWinsOverTheVariantDefault() {
        Normalization n = Normalization.fromMetadataOrVariant(new float[] {127.5f}, new float[] {127.5f}, "tiny-moat-0");
        assertEquals(127.5f, n.mean(2), 0f);
        assertSame(Normalization.IMAGENET, Normalization.fromMetadataOrVariant(null, null, "tiny-moat-0"));
        assertSame(Normalization.INCEPTION, Normalization.fromMetadataOrVariant(new float[] {1f}, null, "moat-3"));
        assertThrows(IllegalArgumentException.class,
                () -> Normalization.fromMetadataOrVariant(new float[] {1f, 2f}, new float[] {1f, 2f}, null));
    }
}
