package dev.tinymoat.demo.core;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Image in, top-k labelled classes out: preprocessing, one inference through an
 * {@link Engine} (the LiteRT interpreter on a device, a fake in tests), output
 * dequantization, softmax when the model emits logits ({@link OutputKind}), and top-k.
 *
 * <p>Not thread-safe: it reuses its input and output buffers, and the GPU delegate
 * wants every call on the thread that created it anyway.
 */
public final class ImageClassifier {
    /** Runs the model once: reads {@code input}, fills {@code output} (both rewound). */
    public interface Engine {
        void run(ByteBuffer input, ByteBuffer output);
    }

    private final Engine engine;
    private final ImagePreprocessor preprocessor;
    private final TensorSpec output;
    private final List<String> labels;
    private final OutputKind outputKind;
    private final ByteBuffer inputBuffer;
    private final ByteBuffer outputBuffer;

    /** A classifier that decides from the scores of each image whether they are logits. */
    public ImageClassifier(Engine engine, ImagePreprocessor preprocessor, TensorSpec output, List<String> labels) {
        this(engine, preprocessor, output, labels, OutputKind.UNKNOWN);
    }

    /** @param outputKind what the model outputs, as its names state ({@link OutputKind#fromNames}) */
    public ImageClassifier(Engine engine, ImagePreprocessor preprocessor, TensorSpec output, List<String> labels,
                           OutputKind outputKind) {
        if (outputKind == null) {
            throw new IllegalArgumentException("output kind is required (OutputKind.UNKNOWN to judge by the scores)");
        }
        this.outputKind = outputKind;
        this.engine = engine;
        this.preprocessor = preprocessor;
        this.output = output;
        this.labels = labels == null ? Collections.<String>emptyList() : labels;
        this.inputBuffer = ByteBuffer.allocateDirect(preprocessor.outputBytes()).order(ByteOrder.nativeOrder());
        this.outputBuffer = ByteBuffer.allocateDirect(output.byteCount()).order(ByteOrder.nativeOrder());
    }

    /**
     * A preprocessor matching the model's input tensor: its size, and float32 or its
     * quantization.
     *
     * @param cropFraction 0 to stretch the whole image, else the centre-crop fraction
     */
    public static ImagePreprocessor preprocessorFor(TensorSpec input, Normalization normalization,
                                                    double cropFraction) {
        int[] hw = input.imageSize();
        ImagePreprocessor.Builder b = ImagePreprocessor.builder(hw[1], hw[0]).normalization(normalization);
        if (cropFraction > 0) {
            b.centerCrop(cropFraction);
        }
        if (input.type().isQuantized()) {
            b.quantized(input.type(), input.quantization());
        }
        return b.build();
    }

    public OutputKind outputKind() {
        return outputKind;
    }

    public List<Classification> classify(ArgbImage image, int k) {
        return top(probabilities(image), k);
    }

    /** Class probabilities for one image, softmaxed here when the model outputs logits. */
    public float[] probabilities(ArgbImage image) {
        // Through Buffer: compiled against Java 17, ByteBuffer.clear() would link to the Java 9
        // covariant override, which older Android releases lack (NoSuchMethodError).
        ((Buffer) inputBuffer).clear();
        preprocessor.writeTo(image, inputBuffer);
        ((Buffer) inputBuffer).rewind();
        ((Buffer) outputBuffer).clear();
        engine.run(inputBuffer, outputBuffer);
        float[] scores = OutputScores.read(outputBuffer, output.elementCount(), output.type(), output.quantization());
        return outputKind.toProbabilities(scores);
    }

    /** The {@code k} most probable classes with their labels (for smoothed probabilities too). */
    public List<Classification> top(float[] probabilities, int k) {
        List<Classification> out = new ArrayList<>();
        for (Prediction p : TopK.of(probabilities, k)) {
            out.add(new Classification(p.index(), ModelLabels.labelFor(labels, p.index()), p.score()));
        }
        return out;
    }
}
