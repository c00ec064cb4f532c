package dev.tinymoat.demo.core;

/**
 * Steadies live-camera results: an exponential moving average of the class
 * probabilities over frames, {@code smoothed = alpha * frame + (1 - alpha) * smoothed},
 * so the top labels stop flickering between frames of the same scene.
 *
 * <p>An average is slow to follow a real change, so when the frames agree on another
 * top class for {@code switchFrames} frames in a row (the same challenger each time,
 * not just any disagreement), the average restarts from the current frame. A call
 * with a different number of classes (another model) also restarts it.
 *
 * <p>Not thread-safe; one instance per stream of frames, {@link #reset()} when the
 * stream changes (camera restarted, model or delegate switched).
 */
public final class ScoreSmoother {
    public static final double DEFAULT_ALPHA = 0.3;
    public static final int DEFAULT_SWITCH_FRAMES = 5;

    private final double alpha;
    private final int switchFrames;
    private float[] smoothed;
    private int challenger = -1;
    private int challengerFrames;
    private int frames;

    public ScoreSmoother() {
        this(DEFAULT_ALPHA, DEFAULT_SWITCH_FRAMES);
    }

    /**
     * @param alpha weight of each new frame, in (0, 1]; 1 turns smoothing off
     * @param switchFrames consecutive frames with the same other top class that restart the average (at least 1)
     */
    public ScoreSmoother(double alpha, int switchFrames) {
        if (!(alpha > 0 && alpha <= 1)) {
            throw new IllegalArgumentException("alpha must be in (0, 1], got " + alpha);
        }
        if (switchFrames < 1) {
            throw new IllegalArgumentException("switch frames must be at least 1, got " + switchFrames);
        }
        this.alpha = alpha;
        this.switchFrames = switchFrames;
    }

    /** Adds one frame's probabilities; returns the smoothed probabilities (a new array). */
    public float[] update(float[] probabilities) {
        if (probabilities == null || probabilities.length == 0) {
            throw new IllegalArgumentException("no probabilities to smooth");
        }
        if (smoothed == null || smoothed.length != probabilities.length) {
            return restart(probabilities);
        }
        int frameTop = argmax(probabilities);
        int smoothedTop = argmax(smoothed);
        if (frameTop == smoothedTop) {
            challenger = -1;
            challengerFrames = 0;
        } else if (frameTop == challenger) {
            challengerFrames++;
        } else {
            challenger = frameTop;
            challengerFrames = 1;
        }
        if (challengerFrames >= switchFrames) {
            return restart(probabilities);
        }
        for (int i = 0; i < smoothed.length; i++) {
            smoothed[i] = (float) (alpha * probabilities[i] + (1 - alpha) * smoothed[i]);
        }
        frames++;
        return smoothed.clone();
    }

    /** Forgets the average: the next frame is taken as it is. */
    public void reset() {
        smoothed = null;
        challenger = -1;
        challengerFrames = 0;
        frames = 0;
    }

    /** Frames in the current average (0 after a reset, 1 right after a restart). */
    public int frames() {
        return frames;
    }

    private float[] restart(float[] probabilities) {
        smoothed = probabilities.clone();
        challenger = -1;
        challengerFrames = 0;
        frames = 1;
        return smoothed.clone();
    }

    /** Index of the highest score; the lower index on ties, as {@link TopK} orders them. */
    static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best] || Float.isNaN(values[best]) && !Float.isNaN(values[i])) {
                best = i;
            }
        }
        return best;
    }
}
