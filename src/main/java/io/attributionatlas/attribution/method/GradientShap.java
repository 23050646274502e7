package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.MethodOption;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PathGradients;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import java.util.List;
import java.util.Random;

/** Captum's {@code GradientShap} at the embedding output, seeded. */
public final class GradientShap extends NamedMethod {

    public static final String NAME = "gradient_shap";
    /** Captum's default n_samples for GradientShap. */
    public static final int DEFAULT_SAMPLES = 5;
    /** Captum's stdevs: Gaussian noise σ on the input's embedding output (default 0). */
    public static final MethodOption<Double> NOISE_STDEV = MethodOption.nonNegative("noise_stdev", 0.0,
            "GradientSHAP's Gaussian input noise sigma (Captum's stdevs; its default 0).");

    public GradientShap() {
        super(NAME, "Captum GradientShap: gradients at random points between the baseline and the noised input", Passes.GRADIENT);
    }

    @Override
    public List<MethodOption<?>> options() {
        return List.of(NOISE_STDEV);
    }

    @Override
    public MethodScores attribute(PathGradients gradients, long[] baselineIds, MethodContext context) {
        return gradientShap(gradients, baselineIds, context.samples(DEFAULT_SAMPLES), context.option(NOISE_STDEV),
                context.seed());
    }

    /**
     * GradientSHAP at the embedding output: for each of {@code samples} draws, noise ε ~ N(0, σ²) on the input
     * and α ~ U(0, 1), the gradient at x' + α(x + ε − x') times (x + ε − x'), summed over hidden; the mean over
     * draws. The baseline distribution is the one baseline (Captum draws from the baselines it is given): the
     * embedding output of the baseline ids, or zeros for the zero baseline. Seeded.
     */
    static MethodScores gradientShap(PathGradients gradients, long[] baselineIds, int samples, double stdev,
            long seed) {
        int n = gradients.text().length();
        float[] sum = new float[n];
        Random random = new Random(seed);
        try (NDManager scope = gradients.model().manager().newSubManager()) {
            NDArray types = scope.create(gradients.text().typeIds(), new Shape(1, n));
            NDArray input = gradients.model().embed(scope.create(gradients.text().ids(), new Shape(1, n)), types, scope);
            NDArray baseline = gradients.options().baseline().isZeroEmbedding() ? input.zerosLike()
                    : gradients.model().embed(scope.create(baselineIds, new Shape(1, n)), types, scope);
            long width = input.getShape().get(2);
            for (int start = 0; start < samples; start += gradients.rowsPerPass()) {
                int rows = Math.min(gradients.rowsPerPass(), samples - start);
                float[] noise = new float[(int) (rows * n * width)];
                float[] alphas = new float[rows];
                for (int r = 0; r < rows; r++) {
                    alphas[r] = random.nextFloat();
                    for (int k = 0; k < n * width; k++) {
                        noise[(int) (r * n * width + k)] = (float) (random.nextGaussian() * stdev);
                    }
                }
                try (NDManager pass = scope.newSubManager()) {
                    NDArray noisy = input.add(pass.create(noise, new Shape(rows, n, width)));
                    NDArray difference = noisy.sub(baseline);
                    NDArray points = baseline.add(difference.mul(pass.create(alphas, new Shape(rows, 1, 1))));
                    ForwardResult r = gradients.model().forwardAndBackward(gradients.batch(rows), ForwardOptions.predictOnly()
                            .startFrom(points).tapEmbedding(), pass, gradients::objective);
                    float[] contributions = r.embeddingTap().getGradient().mul(difference).sum(new int[] {-1})
                            .sum(new int[] {0}).toFloatArray();
                    for (int i = 0; i < n; i++) {
                        sum[i] += contributions[i] / samples;
                    }
                }
            }
        }
        return MethodScores.ofTokens(NAME, sum, gradients.text().words(), samples, samples);
    }
}
