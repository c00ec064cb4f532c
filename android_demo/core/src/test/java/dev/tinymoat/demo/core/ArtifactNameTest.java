package dev.tinymoat.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class ArtifactNameTest {
    @Test
    public void parsesExportNames() {
        ArtifactName a = ArtifactName.of("tiny-moat-0_224_int8.tflite");
        assertEquals("tiny-moat-0_224_int8.tflite", a.file());
        assertEquals("tiny-moat-0_224_int8", a.stem());
        assertEquals("tiny-moat-0", a.variant());
        assertEquals("int8", a.precision());
        ArtifactName mixed = ArtifactName.of("moat-1_256x192_int8-mixed.tflite");
        assertEquals("moat-1", mixed.variant());
        assertEquals("int8-mixed", mixed.precision());
        assertEquals("float16", ArtifactName.of("tiny-moat-2_224_float16.tflite").precision());
    }

    @Test
    public void precisionIsFoundAsAWholeTokenLikeTinymoatBench() {
        ArtifactName renamed = ArtifactName.of("my-int8.tflite");
        assertEquals("int8", renamed.precision());
        assertNull(renamed.variant());
        assertEquals("dynamic", ArtifactName.of("x.dynamic.tflite").precision());
        assertNull(ArtifactName.of("tiny-moat-0_224_int4.tflite").precision());
        assertNull(ArtifactName.of("int8ish.tflite").precision());
    }

    @Test
    public void whatTheNameDoesNotSayIsNull() {
        ArtifactName plain = ArtifactName.of("model.tflite");
        assertNull(plain.variant());
        assertNull(plain.precision());
        assertEquals("model", plain.stem());
        assertNull(ArtifactName.of("tiny-moat-0_int8.tflite").variant());   // no size
        assertThrows(IllegalArgumentException.class, () -> ArtifactName.of("dir/model.tflite"));
    }
}
