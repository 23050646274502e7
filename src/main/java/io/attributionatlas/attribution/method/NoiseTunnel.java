package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.MethodOption;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PathGradients;
import io.attributionatlas.attribution.sweep.SweepPoints;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Scalars;
import java.util.List;
import java.util.Random;

/** Captum's {@code NoiseTunnel} (smoothgrad, smoothgrad_sq, vargrad) around a gradient method of the sweep, seeded. */
public final class NoiseTunnel extends NamedMethod {

    public static final String NAME = "noise_tunnel";
    /** Captum's default nt_samples for NoiseTunnel. */
    public static final int DEFAULT_SAMPLES = 5;
    /** The gradient method it wraps: saliency (SmoothGrad's), input × gradient or integrated gradients. */
    public static final MethodOption<String> METHOD = MethodOption.choice("nt_method", List.of(Saliency.NAME,
            InputXGradient.NAME, IntegratedGradients.NAME), Saliency.NAME,
            "NoiseTunnel's wrapped gradient method (Captum's NoiseTunnel(method)).");
    /** The aggregation over the noisy copies (Captum's nt_type). */
    public static final MethodOption<String> TYPE = MethodOption.choice("nt_type", List.of("smoothgrad",
            "smoothgrad_sq", "vargrad"), "smoothgrad", "NoiseTunnel's aggregation over the noisy copies (nt_type).");
    /** Gaussian noise σ on the input's embedding output (Captum's stdevs; its default 1.0). */
    public static final MethodOption<Double> STDEV = MethodOption.nonNegative("nt_stdev", 1.0,
            "NoiseTunnel's Gaussian noise sigma on the input's embedding output (Captum's stdevs).");

    public NoiseTunnel() {
        super(NAME, "Captum NoiseTunnel (smoothgrad, smoothgrad_sq, vargrad) around saliency, input x gradient or IG", Passes.GRADIENT);
    }

    @Override
    public List<MethodOption<?>> options() {
        return List.of(METHOD, TYPE, STDEV);
    }

    @Override
    public MethodScores attribute(PathGradients gradients, long[] baselineIds, MethodContext context) {
        return noiseTunnel(gradients, baselineIds, context.option(METHOD), context.option(TYPE),
                context.samples(DEFAULT_SAMPLES), context.option(STDEV), context.seed());
    }

    /**
     * Captum's {@code NoiseTunnel} around a gradient method at the embedding output: for each of {@code samples} draws
     * of noise ε ~ N(0, σ²) on the input, the wrapped method's attribution of x + ε per position and hidden unit —
     * saliency |∂F/∂e|, input × gradient ∂F/∂e · (x + ε), or integrated gradients from the baseline to x + ε on the
     * configured points — then, per element, their mean (smoothgrad), the mean of their squares (smoothgrad_sq) or
     * their variance E[a²] − E[a]² (vargrad), as Captum aggregates its attribution tensor; summed over hidden
     * afterwards, as the token scores of every method are. Seeded.
     */
    static MethodScores noiseTunnel(PathGradients gradients, long[] baselineIds, String wrapped, String type,
            int samples, double stdev, long seed) {
        int n = gradients.text().length();
        boolean integrated = wrapped.equals(IntegratedGradients.NAME);
        SweepPoints sweep = gradients.options().sweepPoints();
        java.util.List<double[]> points = new java.util.ArrayList<>(); // {α, weight}
        for (int k = 0; k < sweep.size(); k++) {
            if (!integrated) {
                points.add(new double[] {1, 1});
                break;
            }
            if (sweep.igWeights()[k] != 0) {
                points.add(new double[] {sweep.alphas()[k], sweep.igWeights()[k]});
            }
        }
        Random random = new Random(seed);
        float[] tokens;
        try (NDManager scope = gradients.model().manager().newSubManager()) {
            NDArray types = scope.create(gradients.text().typeIds(), new Shape(1, n));
            NDArray input = gradients.model().embed(scope.create(gradients.text().ids(), new Shape(1, n)), types, scope)
                    .toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            NDArray baseline = gradients.options().baseline().isZeroEmbedding() ? input.zerosLike()
                    : gradients.model().embed(scope.create(baselineIds, new Shape(1, n)), types, scope)
                            .toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            long width = input.getShape().get(2);
            NDArray sum = input.get(0).zerosLike().toType(ai.djl.ndarray.types.DataType.FLOAT64, false);
            NDArray squares = sum.duplicate();
            for (int draw = 0; draw < samples; draw++) {
                float[] noise = new float[(int) (n * width)];
                for (int k = 0; k < noise.length; k++) {
                    noise[k] = (float) (random.nextGaussian() * stdev);
                }
                try (NDManager pass = scope.newSubManager()) {
                    NDArray noisy = input.add(pass.create(noise, new Shape(1, n, width)));
                    NDArray difference = noisy.sub(baseline);
                    NDArray attribution = null; // this draw's [n, hidden]
                    for (int start = 0; start < points.size(); start += gradients.rowsPerPass()) {
                        int rows = Math.min(gradients.rowsPerPass(), points.size() - start);
                        float[] alphas = new float[rows];
                        float[] weights = new float[rows];
                        for (int r = 0; r < rows; r++) {
                            alphas[r] = (float) points.get(start + r)[0];
                            weights[r] = (float) points.get(start + r)[1];
                        }
                        NDArray at = integrated ? baseline.add(difference.mul(pass.create(alphas,
                                new Shape(rows, 1, 1)))) : noisy;
                        ForwardResult r = gradients.model().forwardAndBackward(gradients.batch(rows), ForwardOptions.predictOnly()
                                .startFrom(at).tapEmbedding(), pass, gradients::objective);
                        NDArray g = r.embeddingTap().getGradient().toType(ai.djl.ndarray.types.DataType.FLOAT32,
                                false);
                        NDArray part = switch (wrapped) {
                            case Saliency.NAME -> g.abs();
                            case InputXGradient.NAME -> g.mul(noisy);
                            default -> g.mul(pass.create(weights, new Shape(rows, 1, 1))).mul(difference);
                        };
                        part = part.sum(new int[] {0});
                        attribution = attribution == null ? part : attribution.add(part);
                    }
                    NDArray a = attribution.toType(ai.djl.ndarray.types.DataType.FLOAT64, false);
                    sum.addi(a);
                    squares.addi(a.mul(a));
                }
            }
            NDArray mean = sum.div(Scalars.of(sum, (float) samples));
            NDArray meanSquare = squares.div(Scalars.of(squares, (float) samples));
            NDArray aggregated = switch (type) {
                case "smoothgrad" -> mean;
                case "smoothgrad_sq" -> meanSquare;
                case "vargrad" -> meanSquare.sub(mean.mul(mean));
                default -> throw new IllegalArgumentException("nt_type: " + type);
            };
            tokens = aggregated.sum(new int[] {-1}).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                    .toFloatArray();
        }
        long passes = (long) samples * points.size();
        return MethodScores.ofTokens(NAME, tokens, gradients.text().words(), passes, passes);
    }
}
