package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.List;

/**
 * One attribution method, as Captum's {@code attr} has one class per algorithm. A method declares its name, its
 * options ({@link MethodOption}), whether it rides the shared path sweep or plans passes of its own, and its
 * outputs; the explainer, the job's tables, agreement, faithfulness and the report iterate over methods and their
 * outputs by name. Methods are found by {@link AttributionMethods}, which reads the registry
 * {@code META-INF/services/io.attributionatlas.attribution.AttributionMethod}: a new method is one class there,
 * one line here (README, "Adding a method").
 */
public interface AttributionMethod {

    /** How a method gets its model evaluations. */
    enum Passes {
        /** Read off the shared path sweep, at no extra cost ({@link #fromSweep}). */
        SWEEP,
        /** Copies of the input with tokens replaced by the baseline's, batched across samples ({@link #plan}). */
        PERTURBATION,
        /** Gradient passes of its own at the embedding output or the attention, per sample ({@link #attribute}). */
        GRADIENT,
        /** Forward passes of its own that decompose the model's computation, once per sample ({@link #decompose}). */
        FORWARD
    }

    /** The per-sample score arrays every method writes: a score per token and per word. */
    List<String> TOKEN_AND_WORD_SCORES = List.of("token_scores", "word_scores");

    /** The name {@code --methods} and the job's {@code methods} key take, e.g. "kernel_shap". */
    String name();

    /** One line for usage and atlas.conf, e.g. "Captum KernelShap over words". */
    String summary();

    Passes passes();

    /** Its options, with defaults; keys are unique across methods. */
    default List<MethodOption<?>> options() {
        return List.of();
    }

    /** The score arrays it writes per sample and target, by name. */
    default List<String> outputs() {
        return TOKEN_AND_WORD_SCORES;
    }

    /**
     * The analysis of the sweep it needs: the input's gradient by default (which also gives the targets the methods
     * explain); integrated gradients for the method that reads them.
     */
    default Analysis requiredAnalysis() {
        return Analysis.GRAD_X_INPUT;
    }

    /** Whether it puts baseline token ids in place of the input's (so it cannot run with a zero-embedding baseline). */
    default boolean replacesTokens() {
        return passes() == Passes.PERTURBATION;
    }

    /** {@link Passes#SWEEP}: the scores from what the sweep computed for one target. */
    default MethodScores fromSweep(SweepScores sweep) {
        throw new UnsupportedOperationException(name() + " does not ride the sweep");
    }

    /** {@link Passes#PERTURBATION}: the copies to evaluate for one sample and target, and how the scores follow. */
    default PerturbationPlan<MethodScores> plan(EncodedText text, MethodContext context) {
        throw new UnsupportedOperationException(name() + " is not a perturbation method");
    }

    /** {@link Passes#GRADIENT}: the scores of one sample and target from its own gradient passes. */
    default MethodScores attribute(PathGradients gradients, long[] baselineIds, MethodContext context) {
        throw new UnsupportedOperationException(name() + " has no gradient passes of its own");
    }

    /**
     * {@link Passes#FORWARD}: the samples' decompositions, in their order, from forward passes of its own (batched
     * across the samples within the memory budget), each giving the scores of each of its sample's targets. The
     * explainer asks once per group of finished samples, however many targets.
     */
    default List<Decomposition> decompose(io.attributionatlas.model.TransformerModel model, List<EncodedText> texts,
            MethodContext context) {
        throw new UnsupportedOperationException(name() + " has no forward passes of its own");
    }

    /**
     * Why this method cannot explain a model of this configuration (its family's parts have no decomposition in
     * the method's paper), or null when it can. Checked before any work.
     */
    default String refusesModel(io.attributionatlas.model.ModelConfig config) {
        return null;
    }

    /** A {@link Passes#FORWARD} method's result for one sample: the scores of a target (class index, or position). */
    @FunctionalInterface
    interface Decomposition {
        MethodScores forTarget(String target, int index);

        /** The same scores for every target (contributions to the representation the head reads). */
        static Decomposition same(MethodScores scores) {
            return (target, index) -> scores;
        }
    }

    /**
     * What a method reads for one sample: the options (its own by {@link #option}), the shared sample count
     * (0 = the method's default) and the sample's seed.
     */
    record MethodContext(AttributionOptions options, long seed) {

        public <T> T option(MethodOption<T> option) {
            return options.methodOption(option);
        }

        /** n_samples, or the method's default where it is 0. */
        public int samples(int methodDefault) {
            return options.samples() > 0 ? options.samples() : methodDefault;
        }
    }

    /**
     * What the sweep computed for one target, for the methods that ride it: integrated gradients per token and the
     * number of path points they used, gradient × input and saliency at the input, and the encoding's word ids.
     */
    record SweepScores(float[] integratedGradients, int pathPoints, float[] inputXGradient, float[] saliency,
            int[] words) {
    }
}
