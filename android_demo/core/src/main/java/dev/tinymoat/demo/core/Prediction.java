package dev.tinymoat.demo.core;

/** One class index with its score (a probability or a logit). */
public final class Prediction {
    private final int index;
    private final float score;

    public Prediction(int index, float score) {
        this.index = index;
        this.score = score;
    }

    public int index() {
        return index;
    }

    public float score() {
        return score;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Prediction)) {
            return false;
        }
        Prediction p = (Prediction) o;
        return index == p.index && Float.compare(score, p.score) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * index + Float.hashCode(score);
    }

    @Override
    public String toString() {
        return "#" + index + "=" + score;
    }
}
