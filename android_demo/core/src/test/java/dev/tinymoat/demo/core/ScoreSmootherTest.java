package dev.tinymoat.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotSame;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class ScoreSmootherTest {
    private static final float[] CAT = {0.7f, 0.2f, 0.1f};
    private static final float[] DOG = {0.1f, 0.8f, 0.1f};
    private static final float[] BIRD = {0.1f, 0.1f, 0.8f};

    @Test
    public void firstFrameIsTakenAsItIs() {
        ScoreSmoother s = new ScoreSmoother(0.3, 3);
        float[] out = s.update(CAT);
        assertArrayEquals(CAT, out, 0f);
        assertNotSame(CAT, out);
        assertEquals(1, s.frames());
    }

    @Test
    public void laterFramesAreAveragedExponentially() {
        ScoreSmoother s = new ScoreSmoother(0.25, 3);
        s.update(CAT);
        float[] out = s.update(new float[] {0.5f, 0.3f, 0.2f});
        assertArrayEquals(new float[] {0.65f, 0.225f, 0.125f}, out, 1e-6f);
        out = s.update(new float[] {0.5f, 0.3f, 0.2f});
        assertArrayEquals(new float[] {0.6125f, 0.24375f, 0.14375f}, out, 1e-6f);
        assertEquals(3, s.frames());
    }

    @Test
    public void aBriefChangeOfTopClassIsSmoothedAway() {
        ScoreSmoother s = new ScoreSmoother(0.2, 3);
        for (int i = 0; i < 5; i++) {
            s.update(CAT);
        }
        float[] out = s.update(DOG);
        out = s.update(DOG);                  // two frames: not yet a switch
        assertEquals(0, ScoreSmoother.argmax(out));
        out = s.update(CAT);
        assertEquals(0, ScoreSmoother.argmax(out));
        assertEquals(8, s.frames());
    }

    @Test
    public void aLastingChangeRestartsFromTheCurrentFrame() {
        ScoreSmoother s = new ScoreSmoother(0.1, 3);
        for (int i = 0; i < 10; i++) {
            s.update(CAT);
        }
        s.update(DOG);
        float[] out = s.update(DOG);
        assertEquals(0, ScoreSmoother.argmax(out));   // alpha 0.1: the average alone would lag for many frames
        out = s.update(DOG);
        assertArrayEquals(DOG, out, 0f);
        assertEquals(1, s.frames());
    }

    @Test
    public void changingChallengersDoNotAddUp() {
        ScoreSmoother s = new ScoreSmoother(0.1, 3);
        for (int i = 0; i < 10; i++) {
            s.update(CAT);
        }
        float[][] noisy = {DOG, BIRD, DOG, BIRD, DOG, BIRD};
        float[] out = null;
        for (float[] frame : noisy) {
            out = s.update(frame);
        }
        assertEquals(0, ScoreSmoother.argmax(out));
        assertEquals(16, s.frames());
    }

    @Test
    public void alphaOneTurnsSmoothingOff() {
        ScoreSmoother s = new ScoreSmoother(1.0, 100);
        s.update(CAT);
        assertArrayEquals(DOG, s.update(DOG), 0f);
    }

    @Test
    public void resetAndAnotherClassCountStartAgain() {
        ScoreSmoother s = new ScoreSmoother(0.5, 3);
        s.update(CAT);
        s.update(CAT);
        s.reset();
        assertEquals(0, s.frames());
        assertArrayEquals(DOG, s.update(DOG), 0f);
        float[] four = {0.1f, 0.2f, 0.3f, 0.4f};
        assertArrayEquals(four, s.update(four), 0f);   // another model: no mixing of unrelated classes
        assertEquals(1, s.frames());
    }

    @Test
    public void invalidArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new ScoreSmoother(0, 3));
        assertThrows(IllegalArgumentException.class, () -> new ScoreSmoother(1.5, 3));
        assertThrows(IllegalArgumentException.class, () -> new ScoreSmoother(0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new ScoreSmoother().update(new float[0]));
    }

    @Test
    public void argmaxPrefersTheLowerIndexOnTiesAndSkipsNaN() {
        assertEquals(1, ScoreSmoother.argmax(new float[] {0.1f, 0.4f, 0.4f}));
        assertEquals(1, ScoreSmoother.argmax(new float[] {Float.NaN, 0.2f, 0.1f}));
    }
}
