package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;

public class OutputScoresTest {
    @Test
    public void int8IsDequantizedFromTheStartWhateverThePosition() {
        ByteBuffer b = ByteBuffer.wrap(new byte[] {-128, 0, 127, 5});
        b.position(4);   // as a copy into the buffer leaves it
        float[] s = OutputScores.read(b, 3, TensorType.INT8, new Quantization(0.5f, -128));
        assertArrayEquals(new float[] {0f, 64f, 127.5f}, s, 0f);
    }

    @Test
    public void uint8IsReadUnsigned() {
        ByteBuffer b = ByteBuffer.wrap(new byte[] {0, (byte) 200, (byte) 255});
        float[] s = OutputScores.read(b, 3, TensorType.UINT8, new Quantization(1f / 256, 0));
        assertArrayEquals(new float[] {0f, 200f / 256, 255f / 256}, s, 1e-7f);
    }

    @Test
    public void float32UsesTheBuffersOrder() {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        b.putFloat(0, 1.5f).putFloat(4, -2f);
        assertArrayEquals(new float[] {1.5f, -2f}, OutputScores.read(b, 2, TensorType.FLOAT32, null), 0f);
    }

    @Test
    public void rejectsShortBuffersAndMissingQuantization() {
        assertThrows(IllegalArgumentException.class,
                () -> OutputScores.read(ByteBuffer.allocate(7), 2, TensorType.FLOAT32, null));
        assertThrows(IllegalArgumentException.class,
                () -> OutputScores.read(ByteBuffer.allocate(2), 2, TensorType.INT8, null));
    }

    @Test
    public void recognisesProbabilityOutputs() {
        assertTrue(OutputScores.isProbabilityDistribution(new float[] {0.25f, 0.5f, 0.25f}));
        assertTrue(OutputScores.isProbabilityDistribution(new float[] {0.6f, 0.39f}));   // int8 slack
        assertFalse(OutputScores.isProbabilityDistribution(new float[] {0.2f, 0.2f}));
        assertFalse(OutputScores.isProbabilityDistribution(new float[] {1.5f, -0.5f}));
        assertFalse(OutputScores.isProbabilityDistribution(new float[0]));
    }
}
