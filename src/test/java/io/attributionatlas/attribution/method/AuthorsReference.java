package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;
import io.attributionatlas.model.ParameterRole;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A float64 test reference of ALTI, DecompX and Value Zeroing, ported from their authors' code (read, not copied):
 * one sample at a time, unbatched, in the shapes of the authors' einsums, independent of the engine's
 * implementations in this package. What it takes from the project's model is not under test: one forward pass
 * with its internals (the layer inputs and outputs, the attention probabilities, the logits), the parameters, and
 * for Value Zeroing the re-run of one layer with one token's value vector zeroed.
 *
 * <p>Every tensor is float64 on the CPU in a sub-manager of the model's manager that is closed before returning;
 * the results are plain Java arrays.
 *
 * <p>Authors' code followed (commits):
 * <ul>
 *   <li>ALTI: github.com/mt-upc/transformer-contributions @ 4f89039821c95fe618fa0f63beb783ba72b49485;
 *   <li>DecompX: github.com/mohsenfayyaz/DecompX @ b6bddf0b185f729c029b08d0f37108a5fcc85a4c;
 *   <li>Value Zeroing: github.com/hmohebbi/ValueZeroing @ 57d448daf9541e88062883f8374341566e4c06ee.
 * </ul>
 */
public final class AuthorsReference {

    private AuthorsReference() {
    }

    // ------------------------------------------------------------------------------------------------ results

    /**
     * ALTI of one sample.
     *
     * @param layers per layer the normalised contributions {@code [L][S][S]} (row i: the shares of the tokens j in
     *     layer l's attention block output at i; rows sum to 1)
     * @param scores the rollout's row 0 of the last layer (the mean of its rows where the head pools the mean)
     *     {@code [S]}
     * @param maxResultantError max over layers, positions and dimensions of |y_i − LayerNorm1(s_i)|: the authors'
     *     assertion that the decomposition's resultant is the module's output (contributions.py line 217); with
     *     {@code epsInSigma=false} it is the effect of leaving eps out of σ
     */
    public record AltiResult(double[][][] layers, double[] scores, double maxResultantError) {
    }

    /**
     * Which of DecompX's readings to follow.
     *
     * @param separateBias the code's {@code include_bias_token=True} with {@code bias_decomp_type=None}: an extra
     *     part (index S) receives every bias whole instead of sharing it; it then propagates like any part
     * @param codeLayer0ValueBias the code at layer 0 (where {@code attribution_vectors} is None): the value vectors
     *     carry the value bias, so token j's term carries A^h_ij (b_V^h W_O^h), and the attention bias is b_O alone
     *     (modeling_bert.py 761-780); false: the paper's b_Att = b_V W_O^T + b_O at every layer
     * @param codeWeightsIncludeResidual the code's AbsDot weights of b_Att on {@code residual_weighted_layer}
     *     (attention + residual, line 793); false: on the attention term alone (the paper, Eq. 5)
     */
    public record DecompXVariant(boolean separateBias, boolean codeLayer0ValueBias,
            boolean codeWeightsIncludeResidual) {
        /** The paper: biases shared by AbsDot, b_Att with the value bias at every layer, weights on z. */
        public static final DecompXVariant PAPER = new DecompXVariant(false, false, false);
        /** The paper with a separate bias part. */
        public static final DecompXVariant SEPARATE_BIAS = new DecompXVariant(true, false, false);
        /** The authors' code with its defaults (absdot). */
        public static final DecompXVariant CODE = new DecompXVariant(false, true, true);
    }

    /**
     * DecompX of one sample. K is the number of parts: S, or S + 1 with the separate bias part (index S).
     *
     * @param tokens S
     * @param parts K
     * @param classifierParts classification: per part k its share of each logit {@code [K][labels]}; else null
     * @param qaParts question answering: per part k its share of the start and end logit at each position
     *     {@code [K][S][2]}; else null
     * @param layerNorms per layer ‖P_l[i][k]‖₂ of the token parts (the code's {@code output_aggregated="norm"})
     *     {@code [L][S][S]}
     * @param summary per layer M[i][k] = P_l[i][k]·h_i / ‖h_i‖² with h_i = Σ over all K parts of P_l[i][k] (the
     *     layer's output as the parts recompose it), for the token parts k &lt; S {@code [L][S][S]}
     * @param logits the model's classification logits {@code [labels]}, or null
     * @param startLogits the model's QA start logits {@code [S]}, or null
     * @param endLogits the model's QA end logits {@code [S]}, or null
     * @param hiddenAbsError per layer max over i, d of |Σ_k P_l[i][k] − the model's layer output|
     * @param hiddenRelError per layer the same divided by max |layer output|
     * @param headAbsError max over the head's outputs of |Σ_k head part − the reference's own output| (the head in
     *     float64 on Σ_k P_L: completeness, up to the 1e-12 of the AbsDot weights and of θ)
     * @param headRelError max over outputs of |Σ_k head part − own output| / max(1, |own output|)
     * @param modelHeadRelError max over outputs of |Σ_k head part − the model's float32 output| / max(1, |output|)
     *     (float32 rounding of the model's forward pass, about 1e-6)
     */
    public record DecompXResult(int tokens, int parts, double[][] classifierParts, double[][][] qaParts,
            double[][][] layerNorms, double[][][] summary, double[] logits, double[] startLogits, double[] endLogits,
            double[] hiddenAbsError, double[] hiddenRelError, double headAbsError, double headRelError,
            double modelHeadRelError) {

        /** Classification: each token part's share of one logit {@code [S]} (the bias part left out). */
        public double[] tokenScores(int label) {
            double[] out = new double[tokens];
            for (int k = 0; k < tokens; k++) {
                out[k] = classifierParts[k][label];
            }
            return out;
        }

        /** Separate-bias mode, classification: the bias part's share of one logit (0 without a bias part). */
        public double biasScore(int label) {
            return parts > tokens ? classifierParts[tokens][label] : 0;
        }
    }

    /**
     * Value Zeroing of one sample.
     *
     * @param distances per layer l the cosine distance at position i when token t's value vector is zeroed in l,
     *     {@code [L][S(i)][S(t)]}
     * @param layers the distances with each row divided by its sum {@code [L][S][S]}
     * @param scores the rollout's row 0 of the last layer (the mean of its rows where the head pools the mean)
     */
    public record ValueZeroingResult(double[][][] distances, double[][][] layers, double[] scores) {
    }

    // ------------------------------------------------------------------------------------------------ ALTI

    /**
     * Why ALTI and DecompX as their authors wrote them do not apply to the model, or null: they decompose post-norm
     * layers (a value projection of its own, attention output, LayerNorm after the residual, a two-map FFN and a
     * second LayerNorm), which pre-norm layers with fused projections (ModernBERT) do not have.
     */
    public static String decompositionRefusal(TransformerModel model) {
        for (LayerRole role : List.of(LayerRole.VALUE_W, LayerRole.ATTN_OUT_W, LayerRole.ATTN_NORM_W,
                LayerRole.FFN_IN_W, LayerRole.FFN_OUT_W, LayerRole.OUT_NORM_W)) {
            if (model.layerParameter(0, role) == null) {
                return model.config().family().modelType() + " has no " + role + ": not a post-norm layer as the "
                        + "authors' ALTI and DecompX decompose it";
            }
        }
        return null;
    }

    /**
     * ALTI (Ferrando et al. 2022) with the authors' defaults: the decomposition of the attention block through the
     * first LayerNorm, L1 distances normalised by 'min_sum' with the resultant's L1 norm, and rollout.
     *
     * <p>Follows transformer-contributions @ 4f89039821c95fe618fa0f63beb783ba72b49485:
     * <ul>
     *   <li>{@code src/contributions.py} 93-232, {@code ModelWrapper.get_contributions}, the {@code pre_layer_norm ==
     *       False} branch: value vectors hooked at the value Linear's output (b_V included, 135), transformed per
     *       head by W_O (149-152), weighted by attention and summed over heads (155-162), plus the residual
     *       (165-171); {@code l_transform} (173-186); resultant y = (Σ_j l_transform(T_ij) + l_transform(b_O)) / σ
     *       + β with σ = {@code (pre_ln_states + eps).std(-1, unbiased=False)} (202-208); importance = −L1
     *       pairwise distance (222);
     *   <li>{@code attributions.py} 59-61: 'min_sum' normalisation with the resultants' L1 norms, then rollout;
     *   <li>{@code src/utils_contributions.py} 257-294 {@code normalize_contributions} ('min_sum' with
     *       {@code resultant_norm}, 280-285: c + |‖y‖₁|, clipped at 0, divided by the row sum) and 455-470
     *       {@code compute_joint_attention} (joint_0 = C_0, joint_l = C_l · joint_{l−1}).
     * </ul>
     * Not followed: {@code F.pairwise_distance} adds its eps = 1e-6 to each difference (‖a − b + 1e-6‖₁), which
     * moves each L1 distance by at most d·1e-6; this reference computes ‖a − b‖₁.
     *
     * @param valueBiasToTokens true: the authors' code (b_V inside each token's value vector); false: the value
     *     bias's Σ_h b_V^h W_O^h goes to the bias term, with l_transform(b_V W_O^T) added to l_transform(b_O)
     * @param epsInSigma false: the authors' σ, the population std of the pre-LN state without eps (eps is added to
     *     the states and cancels); true: √(var + eps) as the LayerNorm module computes it
     */
    public static AltiResult alti(TransformerModel model, EncodedText text, boolean valueBiasToTokens,
            boolean epsInSigma) {
        if (model.config().family().preNorm()) {
            return altiPreNorm(model, text);
        }
        requireDecomposable(model);
        ModelConfig config = model.config();
        int s = text.length();
        int numLayers = config.numLayers();
        int heads = config.numHeads();
        int d = config.hiddenSize();
        int dh = d / heads;
        double[][][] layers = new double[numLayers][][];
        double maxResultantError = 0;
        try (NDManager scope = model.manager().newSubManager()) {
            Pass pass = forward(model, text, scope);
            NDArray eye = scope.eye(s, s, 0, DataType.FLOAT64);
            for (int l = 0; l < numLayers; l++) {
                NDArray x = pass.layerInput(l); // hidden_states_model[layer] [S, d]
                NDArray attention = pass.attentions.get(l); // [H, S, S]
                NDArray wV = param(model, l, LayerRole.VALUE_W, scope);
                NDArray bV = bias(model, l, LayerRole.VALUE_B, d, scope);
                NDArray wO = param(model, l, LayerRole.ATTN_OUT_W, scope);
                NDArray bO = bias(model, l, LayerRole.ATTN_OUT_B, d, scope);
                NDArray gamma1 = param(model, l, LayerRole.ATTN_NORM_W, scope);
                NDArray beta1 = bias(model, l, LayerRole.ATTN_NORM_B, d, scope);

                // the value Linear's output, transpose_for_scores: (num_heads, seq_length, head_size)
                NDArray values = x.matMul(wV.transpose());
                if (valueBiasToTokens) {
                    values = values.add(bV);
                }
                NDArray valueLayer = values.reshape(s, heads, dh).transpose(1, 0, 2);
                // dense.weight.view(all_head_size, num_heads, head_size): 'dhv'; einsum('hsv,dhv->hsd')
                NDArray dense = wO.reshape(d, heads, dh);
                NDArray transformedLayer = valueLayer.matMul(dense.transpose(1, 2, 0)); // [H, S, d]
                // einsum('hks,hsd->hksd') summed over heads: (seq_length, seq_length, all_head_size)
                NDArray weightedLayer = attention.expandDims(3).mul(transformedLayer.expandDims(1));
                NDArray summedWeightedLayer = weightedLayer.sum(new int[] {0});
                // einsum('sk,sd->skd', eye, hidden_states)
                NDArray residual = eye.expandDims(2).mul(x.expandDims(1));
                NDArray residualWeightedLayer = summedWeightedLayer.add(residual); // T [S(i), S(j), d]

                NDArray transformedVectors = lTransform(residualWeightedLayer, gamma1);
                NDArray attnOutput = transformedVectors.sum(new int[] {1}); // [S, d]
                NDArray denseBiasTerm = lTransform(bO, gamma1);
                NDArray preLnStates = residualWeightedLayer.sum(new int[] {1}).add(bO);
                if (!valueBiasToTokens) {
                    NDArray valueBiasTerm = bV.matMul(wO.transpose()); // Σ_h b_V^h W_O^h
                    denseBiasTerm = denseBiasTerm.add(lTransform(valueBiasTerm, gamma1));
                    preLnStates = preLnStates.add(valueBiasTerm);
                }
                double eps = config.layerNormEps();
                NDArray variance = populationVariance(preLnStates); // [S, 1]
                NDArray sigma = (epsInSigma ? variance.add(eps) : variance).sqrt();
                NDArray lnStdCoef = sigma.pow(-1); // [S, 1]
                NDArray resultant = attnOutput.add(denseBiasTerm).mul(lnStdCoef).add(beta1); // y_i [S, d]
                NDArray transformedVectorsStd = transformedVectors.mul(lnStdCoef.expandDims(2)); // [S, S, d]

                NDArray realResultant = preLnStates.sub(preLnStates.mean(new int[] {-1}, true))
                        .div(variance.add(eps).sqrt()).mul(gamma1).add(beta1);
                maxResultantError = Math.max(maxResultantError, resultant.sub(realResultant).abs().max()
                        .getDouble());

                // importance_matrix = -F.pairwise_distance(transformed_vectors_std, resultant.unsqueeze(2), p=1)
                NDArray importance = transformedVectorsStd.sub(resultant.expandDims(1)).abs().sum(new int[] {2})
                        .neg(); // [S, S]
                NDArray resultantNorm = resultant.abs().sum(new int[] {1}, true); // [S, 1]
                // normalize_contributions(scaling='min_sum', resultant_norm)
                NDArray normalized = importance.add(resultantNorm.abs()).maximum(0.0);
                normalized = normalized.div(normalized.sum(new int[] {1}, true));
                layers[l] = matrix(normalized);
            }
        }
        return new AltiResult(layers, rolloutScores(layers, model.config().family().poolsMean(config)),
                maxResultantError);
    }

    /**
     * ALTI on pre-norm layers: the authors' {@code pre_layer_norm == True} branch of {@code get_contributions}
     * (contributions.py 196-214): the value vectors hooked at the value projection's output (computed from the norm of
     * each token's own input, with any bias; here the forward pass's kept values), T_ij = Σ_h A^h_ij v^h_j W_O^h +
     * δ_ij x_i without a layer norm, the resultant y_i = Σ_j T_ij + b_O (the residual stream after attention, the
     * code's {@code pre_ln2_states}), then the same L1 'min_sum' normalisation and rollout as post-norm layers.
     */
    private static AltiResult altiPreNorm(TransformerModel model, EncodedText text) {
        ModelConfig config = model.config();
        int s = text.length();
        int numLayers = config.numLayers();
        int heads = config.numHeads();
        int d = config.hiddenSize();
        int dh = d / heads;
        double[][][] layers = new double[numLayers][][];
        try (NDManager scope = model.manager().newSubManager()) {
            Pass pass = forward(model, text, scope);
            NDArray eye = scope.eye(s, s, 0, DataType.FLOAT64);
            for (int l = 0; l < numLayers; l++) {
                NDArray x = pass.layerInput(l);
                NDArray attention = pass.attentions.get(l); // [H, S, S]
                NDArray valueLayer = pass.values.get(l); // [H, S, dh]
                NDArray wO = param(model, l, LayerRole.ATTN_OUT_W, scope);
                NDArray bO = bias(model, l, LayerRole.ATTN_OUT_B, d, scope);
                NDArray transformedLayer = valueLayer.matMul(wO.reshape(d, heads, dh).transpose(1, 2, 0)); // [H, S, d]
                NDArray summedWeightedLayer = attention.expandDims(3).mul(transformedLayer.expandDims(1))
                        .sum(new int[] {0});
                NDArray transformedVectors = summedWeightedLayer.add(eye.expandDims(2).mul(x.expandDims(1)));
                NDArray resultant = transformedVectors.sum(new int[] {1}).add(bO); // [S, d]
                NDArray importance = transformedVectors.sub(resultant.expandDims(1)).abs().sum(new int[] {2}).neg();
                NDArray normalized = importance.add(resultant.abs().sum(new int[] {1}, true)).maximum(0.0);
                layers[l] = matrix(normalized.div(normalized.sum(new int[] {1}, true)));
            }
        }
        return new AltiResult(layers, rolloutScores(layers, config.family().poolsMean(config)), 0);
    }

    private static void requireDecomposable(TransformerModel model) {
        String refusal = decompositionRefusal(model);
        if (refusal != null) {
            throw new IllegalArgumentException(refusal);
        }
    }

    /** l_transform: γ ⊙ (y − mean(y)) over the last axis (contributions.py 173-186, diag(γ)·(I − 1/d)). */
    private static NDArray lTransform(NDArray y, NDArray gamma) {
        return y.sub(y.mean(new int[] {-1}, true)).mul(gamma);
    }

    // ------------------------------------------------------------------------------------------------ DecompX

    /**
     * DecompX (Modarressi et al. 2023) with the authors' defaults: include_biases, bias_decomp_type="absdot",
     * include_bias_token=False, include_LN1, include_FFN with FFN_approx_type="GeLU_ZO" (not the fast mode),
     * include_LN2, aggregation="vector", include_classifier_w_pooler with tanh_approx_type="ZO"
     * ({@code src/decompx_utils.py} 6-37, {@code DecompXConfig}). Parts P[i][k] are d-vectors at position i from
     * input token k (from the bias, k = S, in the separate-bias mode).
     *
     * <p>Follows DecompX @ b6bddf0b185f729c029b08d0f37108a5fcc85a4c, {@code src/modeling_bert.py}:
     * <ul>
     *   <li>319-321: the parts' value vectors, einsum('bijd,vd->bijv') with the value weight only, split per head
     *       (274-280);
     *   <li>{@code BertLayer.forward} 750-843: W_O per head (758-759), attention-weighted and summed over heads
     *       (782-787), the residual (789), the attention bias b_V W_O^T + b_O shared (790-793; 761-780 at layer 0,
     *       where the code's value vectors carry b_V and the bias is b_O: {@link DecompXVariant#codeLayer0ValueBias}),
     *       LN1 (795-804), the FFN (808-817), the second residual and LN2 (817-831);
     *   <li>{@code BertLayer.bias_decomposer} 538-567 (absdot: |basis · bias| / (Σ_k + 1e-12); "biastoken": the
     *       whole bias to the last part, 558-563); {@code ln_decomposer} 570-585 (each part mean-centred, divided
     *       by √(var + eps) of the actual pre-LN state, times γ; β shared); {@code gelu_zo_decomposition} 624-627
     *       (θ = act(U) / (U + 1e-12) of the actual pre-activation U); {@code ffn_decomposer} 629-647 (b1 shared on
     *       the first linear map's parts, θ, the second map, b2 shared);
     *   <li>{@code BertEncoder.forward} 954-982: "vector" aggregation, the layer's parts are the next layer's
     *       input parts; {@code output_builder} 165-173 ("norm": ‖·‖₂ over d);
     *   <li>{@code BertModel.bias_decomposer} 1285-1312, {@code tanh_zo_decomposition} 1342-1345,
     *       {@code ffn_decomposer} 1347-1357 and {@code forward} 1486-1505: the pooler on position 0's parts (dense,
     *       its bias shared, the ZO slope of tanh on the actual pre-activation);
     *   <li>{@code BertForSequenceClassification.bias_decomposer} 2011-2036, {@code ffn_decomposer} 2062-2067 and
     *       {@code forward} 2116-2138: the classifier, its bias shared by |o_k · b_out| over the labels.
     * </ul>
     * Beyond BERT, as the authors' code does not cover them: the head's activation is the family's (ZO slope
     * act(H) / (H + 1e-12) for tanh, ReLU, GELU), the head reads the mean of the positions' parts where the family
     * pools the mean, and a QA head maps each position's parts to its two logits with its bias shared per position
     * by |o[i][k] · b_qa|.
     */
    public static DecompXResult decompx(TransformerModel model, EncodedText text, DecompXVariant variant) {
        requireDecomposable(model);
        ModelConfig config = model.config();
        int s = text.length();
        int numLayers = config.numLayers();
        int heads = config.numHeads();
        int d = config.hiddenSize();
        int dh = d / heads;
        int k = variant.separateBias() ? s + 1 : s;
        double eps = config.layerNormEps();
        double[][][] norms = new double[numLayers][][];
        double[][][] summary = new double[numLayers][][];
        double[] hiddenAbs = new double[numLayers];
        double[] hiddenRel = new double[numLayers];
        try (NDManager scope = model.manager().newSubManager()) {
            Pass pass = forward(model, text, scope);
            // the last part receives the biases whole in the separate-bias mode ("biastoken")
            double[] last = new double[k];
            last[k - 1] = 1;
            NDArray biasPart = variant.separateBias() ? scope.create(last).reshape(k, 1) : null;
            // layer 0's input parts: position i holds token i's own input (the code's residual eye ⊗ hidden_states)
            NDArray eyeSK = scope.eye(s, k, 0, DataType.FLOAT64);
            NDArray x0 = pass.layerInput(0);
            NDArray attributionVectors = eyeSK.expandDims(2).mul(x0.expandDims(1)); // [S, K, d]
            for (int l = 0; l < numLayers; l++) {
                NDArray attention = pass.attentions.get(l); // [H, S, S]
                NDArray wV = param(model, l, LayerRole.VALUE_W, scope);
                NDArray bV = bias(model, l, LayerRole.VALUE_B, d, scope);
                NDArray wO = param(model, l, LayerRole.ATTN_OUT_W, scope);
                NDArray bO = bias(model, l, LayerRole.ATTN_OUT_B, d, scope);
                boolean codeLayer0 = variant.codeLayer0ValueBias() && l == 0;

                // decomposed_value_layer: einsum('ijd,vd->ijv'), then (heads, S, K, head_size)
                NDArray decomposedValues = attributionVectors.matMul(wV.transpose());
                if (codeLayer0) {
                    decomposedValues = decomposedValues.add(eyeSK.expandDims(2).mul(bV)); // v_j with b_V, own part
                }
                NDArray decomposedValueLayer = decomposedValues.reshape(s, k, heads, dh).transpose(2, 0, 1, 3);
                // headmixing_weight 'dhv'; einsum('hsqv,dhv->hsqd')
                NDArray headMixing = wO.reshape(d, heads, dh).transpose(1, 2, 0); // [H, dh, d]
                NDArray transformedLayer = decomposedValueLayer.reshape(heads, (long) s * k, dh).matMul(headMixing)
                        .reshape(heads, s, (long) k * d);
                // einsum('hks,hsqd->hkqd') summed over heads
                NDArray summedWeightedLayer = attention.matMul(transformedLayer).sum(new int[] {0}).reshape(s, k, d);
                NDArray residualWeightedLayer = summedWeightedLayer.add(attributionVectors); // r [S, K, d]
                NDArray accumulatedBias = codeLayer0 ? bO : bV.matMul(wO.transpose()).add(bO);
                NDArray basis = variant.codeWeightsIncludeResidual() ? residualWeightedLayer : summedWeightedLayer;
                residualWeightedLayer = biasDecomposer(accumulatedBias, residualWeightedLayer, basis, biasPart);

                NDArray postLnLayer = lnDecomposer(residualWeightedLayer, param(model, l, LayerRole.ATTN_NORM_W,
                        scope), bias(model, l, LayerRole.ATTN_NORM_B, d, scope), eps, biasPart);
                NDArray postFfnLayer = ffnDecomposer(model, l, postLnLayer, biasPart, scope);
                NDArray preLn2Layer = postLnLayer.add(postFfnLayer);
                NDArray postLn2Layer = lnDecomposer(preLn2Layer, param(model, l, LayerRole.OUT_NORM_W, scope),
                        bias(model, l, LayerRole.OUT_NORM_B, d, scope), eps, biasPart);
                attributionVectors = postLn2Layer;

                // output_builder(aggregated, "norm"), and the summary against the recomposed output
                norms[l] = tokenColumns(matrix(postLn2Layer.square().sum(new int[] {2}).sqrt()), s);
                NDArray recomposed = postLn2Layer.sum(new int[] {1}); // [S, d]
                NDArray projections = postLn2Layer.mul(recomposed.expandDims(1)).sum(new int[] {2})
                        .div(recomposed.square().sum(new int[] {1}, true));
                summary[l] = tokenColumns(matrix(projections), s);
                NDArray actual = pass.hidden.get(l);
                hiddenAbs[l] = recomposed.sub(actual).abs().max().getDouble();
                hiddenRel[l] = hiddenAbs[l] / actual.abs().max().getDouble();
            }

            double[][] classifierParts = null;
            double[][][] qaParts = null;
            double[] own = null; // the head in float64 on the recomposed last layer output, flattened
            double[] actual = null; // the model's outputs, flattened alike
            double[] sums = null; // Σ_k of the head parts, flattened alike
            if (config.task() == Task.SEQUENCE_CLASSIFICATION) {
                NDArray pooled = config.family().poolsMean(config) ? attributionVectors.mean(new int[] {0})
                        : attributionVectors.get(0); // [K, d]
                NDArray outputs = classifierDecomposer(model, pooled, biasPart, scope); // [K, labels]
                classifierParts = matrix(outputs);
                sums = outputs.sum(new int[] {0}).toDoubleArray();
                own = classifierHead(model, pooled.sum(new int[] {0}), scope).toDoubleArray();
                actual = pass.logits;
            } else if (config.task() == Task.QUESTION_ANSWERING) {
                NDArray wQa = global(model, Role.QA_W, scope);
                NDArray bQa = global(model, Role.QA_B, scope);
                NDArray outputs = attributionVectors.matMul(wQa.transpose()); // [S, K, 2]
                outputs = biasDecomposer(bQa, outputs, outputs, biasPart); // per position, |o[i][k] · b_qa|
                double[] flat = outputs.transpose(1, 0, 2).toDoubleArray(); // [K, S, 2]
                qaParts = new double[k][s][2];
                for (int p = 0; p < k; p++) {
                    for (int i = 0; i < s; i++) {
                        qaParts[p][i][0] = flat[(p * s + i) * 2];
                        qaParts[p][i][1] = flat[(p * s + i) * 2 + 1];
                    }
                }
                sums = outputs.sum(new int[] {1}).toDoubleArray(); // [S, 2]
                NDArray ownQa = attributionVectors.sum(new int[] {1}).matMul(wQa.transpose());
                own = (bQa == null ? ownQa : ownQa.add(bQa)).toDoubleArray();
                actual = new double[2 * s];
                for (int i = 0; i < s; i++) {
                    actual[2 * i] = pass.start[i];
                    actual[2 * i + 1] = pass.end[i];
                }
            }
            double headAbs = 0;
            double headRel = 0;
            double modelRel = 0;
            for (int o = 0; sums != null && o < sums.length; o++) {
                double err = Math.abs(sums[o] - own[o]);
                headAbs = Math.max(headAbs, err);
                headRel = Math.max(headRel, err / Math.max(1, Math.abs(own[o])));
                modelRel = Math.max(modelRel, Math.abs(sums[o] - actual[o]) / Math.max(1, Math.abs(actual[o])));
            }
            return new DecompXResult(s, k, classifierParts, qaParts, norms, summary, pass.logits, pass.start,
                    pass.end, hiddenAbs, hiddenRel, headAbs, headRel, modelRel);
        }
    }

    /** The classification head in float64 on a pooled state [d]: act(c W_dense^T + b_dense) W_out^T + b_out. */
    private static NDArray classifierHead(TransformerModel model, NDArray pooled, NDManager scope) {
        ModelConfig config = model.config();
        NDArray pre = pooled.matMul(global(model, Role.CLS_HIDDEN_W, scope).transpose());
        NDArray bDense = global(model, Role.CLS_HIDDEN_B, scope);
        NDArray post = config.family().classifierActivation(config).apply(bDense == null ? pre : pre.add(bDense));
        NDArray out = post.matMul(global(model, Role.CLS_OUT_W, scope).transpose());
        NDArray bOut = global(model, Role.CLS_OUT_B, scope);
        return bOut == null ? out : out.add(bOut);
    }

    /**
     * BertLayer.bias_decomposer (modeling_bert.py 538-567): the bias shared over the parts (axis −2) by
     * absdot weights |basis[..., k, :] · bias| / (Σ_k |…| + 1e-12) of {@code basis}; or, with a bias part
     * ("biastoken", 558-563), added whole to it. A null bias is zero.
     */
    private static NDArray biasDecomposer(NDArray bias, NDArray parts, NDArray basis, NDArray biasPart) {
        if (bias == null) {
            return parts;
        }
        if (biasPart != null) {
            return parts.add(biasPart.mul(bias));
        }
        long n = bias.getShape().get(0);
        NDArray weights = basis.matMul(bias.reshape(n, 1)).squeeze(-1).abs(); // einsum('skd,d->sk')
        weights = weights.div(weights.sum(new int[] {-1}, true).add(1e-12));
        return parts.add(weights.expandDims(-1).mul(bias)); // matmul(weights.unsqueeze(-1), bias.unsqueeze(0))
    }

    /**
     * ln_decomposer (modeling_bert.py 570-585): the variance of the actual pre-LN state (the sum of the parts,
     * population), each part mean-centred over d, divided by √(var + eps), times γ; β shared on the result.
     */
    private static NDArray lnDecomposer(NDArray parts, NDArray gamma, NDArray beta, double eps, NDArray biasPart) {
        NDArray preLnStates = parts.sum(new int[] {1}); // [S, d]
        NDArray var = populationVariance(preLnStates).expandDims(2); // [S, 1, 1]
        NDArray eachMean = parts.mean(new int[] {-1}, true); // [S, K, 1]
        NDArray normalizedLayer = parts.sub(eachMean).div(var.add(eps).sqrt());
        NDArray postLnLayer = normalizedLayer.mul(gamma);
        return biasDecomposer(beta, postLnLayer, postLnLayer, biasPart);
    }

    /**
     * BertLayer.ffn_decomposer (modeling_bert.py 629-647) with gelu_zo_decomposition (624-627): the first linear
     * map of each part, b1 shared on them, θ = act(U) / (U + 1e-12) of the actual pre-activation U (the sum of the
     * parts), the second map, b2 shared on its parts.
     */
    private static NDArray ffnDecomposer(TransformerModel model, int l, NDArray parts, NDArray biasPart,
            NDManager scope) {
        NDArray w1 = param(model, l, LayerRole.FFN_IN_W, scope);
        NDArray b1 = bias(model, l, LayerRole.FFN_IN_B, (int) w1.getShape().get(0), scope);
        NDArray w2 = param(model, l, LayerRole.FFN_OUT_W, scope);
        NDArray b2 = bias(model, l, LayerRole.FFN_OUT_B, (int) w2.getShape().get(0), scope);
        NDArray postFirstLayer = parts.matMul(w1.transpose()); // einsum('ld,skd->skl')
        postFirstLayer = biasDecomposer(b1, postFirstLayer, postFirstLayer, biasPart);
        NDArray intermediateHiddenStates = postFirstLayer.sum(new int[] {1}); // [S, I]
        NDArray intermediateOutput = model.config().activation().apply(intermediateHiddenStates);
        NDArray m = intermediateOutput.div(intermediateHiddenStates.add(1e-12));
        NDArray postActFirstLayer = postFirstLayer.mul(m.expandDims(1));
        NDArray postSecondLayer = postActFirstLayer.matMul(w2.transpose()); // einsum('skl,dl->skd')
        return biasDecomposer(b2, postSecondLayer, postSecondLayer, biasPart);
    }

    /**
     * The pooler's ffn_decomposer with tanh_zo_decomposition (modeling_bert.py 1342-1357) and the classifier's
     * ffn_decomposer (2062-2067), both with their bias_decomposer (1285-1312, 2011-2036): {@code pooled} [K, d]
     * → [K, labels].
     */
    private static NDArray classifierDecomposer(TransformerModel model, NDArray pooled, NDArray biasPart,
            NDManager scope) {
        ModelConfig config = model.config();
        NDArray wDense = global(model, Role.CLS_HIDDEN_W, scope);
        NDArray bDense = global(model, Role.CLS_HIDDEN_B, scope);
        NDArray wOut = global(model, Role.CLS_OUT_W, scope);
        NDArray bOut = global(model, Role.CLS_OUT_B, scope);
        NDArray postPool = pooled.matMul(wDense.transpose()); // einsum('ld,kd->kl')
        postPool = biasDecomposer(bDense, postPool, postPool, biasPart);
        NDArray preActPooled = postPool.sum(new int[] {0}); // [d']
        Activation act = config.family().classifierActivation(config);
        NDArray postActPooled = act.apply(preActPooled);
        NDArray m = postActPooled.div(preActPooled.add(1e-12));
        NDArray postActPool = postPool.mul(m);
        NDArray postClassifier = postActPool.matMul(wOut.transpose()); // einsum('ld,kd->kl')
        return biasDecomposer(bOut, postClassifier, postClassifier, biasPart);
    }

    // ------------------------------------------------------------------------------------------------ Value Zeroing

    /**
     * Value Zeroing (Mohebbi et al. 2023) as the authors' script computes it, following ValueZeroing @
     * 57d448daf9541e88062883f8374341566e4c06ee, {@code scoring/value_zeroing.py}: 137-167, per layer l and token
     * t, layer l re-run from the original input of l (the previous layer's original output) with token t's value
     * vectors zeroed in every head ({@code modeling/customized_modeling_bert.py} 342-343: after the value Linear,
     * bias included), compared at every position with the original output of l by sklearn's
     * {@code cosine_distances(x, y).diagonal()} (1 − cosine, clipped to [0, 2]; here in float64 from the float32
     * vectors); 170: each row divided by its sum; 73-85 {@code compute_joint_attention(res=False)}: joint_0 = C_0,
     * joint_l = C_l · joint_{l−1}. The scores are row 0 of the last joint (its rows' mean where the head pools the
     * mean).
     */
    public static ValueZeroingResult valueZeroing(TransformerModel model, EncodedText text) {
        ModelConfig config = model.config();
        int s = text.length();
        int numLayers = config.numLayers();
        double[][][] distances = new double[numLayers][s][s];
        EncodedBatch batch = EncodedBatch.ofTexts(List.of(text), config.padTokenId());
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forward(batch, new ForwardOptions().keepHiddenStates(), scope);
            for (int l = 0; l < numLayers; l++) {
                float[][] original = rows(r.hiddenStates().get(l).get(0), s);
                NDArray input = l == 0 ? null : r.hiddenStates().get(l - 1);
                for (int t = 0; t < s; t++) {
                    try (NDManager pass = scope.newSubManager()) {
                        float[] keep = new float[s];
                        Arrays.fill(keep, 1f);
                        keep[t] = 0f;
                        ForwardResult zeroed = model.forward(batch, new ForwardOptions().layers(l, l, input)
                                .valueKeep(l, pass.create(keep, new Shape(1, s))).keepHiddenStates(), pass);
                        float[][] changed = rows(zeroed.hiddenStates().get(0).get(0), s);
                        for (int i = 0; i < s; i++) {
                            distances[l][i][t] = cosineDistance(changed[i], original[i]);
                        }
                    }
                }
            }
        }
        double[][][] layers = new double[numLayers][s][s];
        for (int l = 0; l < numLayers; l++) {
            for (int i = 0; i < s; i++) {
                double sum = 0;
                for (int t = 0; t < s; t++) {
                    sum += distances[l][i][t];
                }
                for (int t = 0; t < s; t++) {
                    layers[l][i][t] = distances[l][i][t] / sum;
                }
            }
        }
        return new ValueZeroingResult(distances, layers, rolloutScores(layers, config.family().poolsMean(config)));
    }

    /** sklearn's cosine_distances for one pair: 1 − x·y / (‖x‖‖y‖), clipped to [0, 2], in float64. */
    private static double cosineDistance(float[] x, float[] y) {
        return Math.min(2, Math.max(0, 1 - ValueZeroingTest.cosine(x, y)));
    }

    // ------------------------------------------------------------------------------------------------ shared

    /**
     * compute_joint_attention (transformer-contributions utils_contributions.py 455-470; ValueZeroing
     * value_zeroing.py 73-85 with res=False): joint_0 = C_0, joint_l = C_l · joint_{l−1}; the last joint's row 0,
     * or the mean of its rows.
     */
    static double[] rolloutScores(double[][][] layers, boolean meanOfRows) {
        double[][] joint = layers[0];
        for (int l = 1; l < layers.length; l++) {
            joint = matMul(layers[l], joint);
        }
        int s = joint.length;
        double[] scores = new double[s];
        if (!meanOfRows) {
            System.arraycopy(joint[0], 0, scores, 0, s);
            return scores;
        }
        for (double[] row : joint) {
            for (int j = 0; j < s; j++) {
                scores[j] += row[j] / s;
            }
        }
        return scores;
    }

    private static double[][] matMul(double[][] a, double[][] b) {
        int n = a.length;
        int m = b[0].length;
        double[][] c = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < b.length; k++) {
                double aik = a[i][k];
                for (int j = 0; j < m; j++) {
                    c[i][j] += aik * b[k][j];
                }
            }
        }
        return c;
    }

    /** The population variance over the last axis, kept as [S, 1]. */
    private static NDArray populationVariance(NDArray states) {
        NDArray centred = states.sub(states.mean(new int[] {-1}, true));
        return centred.square().mean(new int[] {-1}, true);
    }

    /** One forward pass of the sample with its internals, as float64 [S, …] tensors in {@code scope}. */
    private static final class Pass {
        NDArray firstInput;
        final List<NDArray> hidden = new ArrayList<>();
        final List<NDArray> attentions = new ArrayList<>();
        /** Each layer's value vectors as the forward pass computed them [H, S, head size] (the authors' hook). */
        final List<NDArray> values = new ArrayList<>();
        double[] logits;
        double[] start;
        double[] end;

        /** Layer l's input: the embedding output after any projection for l = 0, else layer l − 1's output. */
        NDArray layerInput(int l) {
            return l == 0 ? firstInput : hidden.get(l - 1);
        }
    }

    private static Pass forward(TransformerModel model, EncodedText text, NDManager scope) {
        EncodedBatch batch = EncodedBatch.ofTexts(List.of(text), model.config().padTokenId());
        ForwardResult r = model.forward(batch, new ForwardOptions().keepHiddenStates().keepAttentions().keepValues(),
                scope);
        Pass pass = new Pass();
        pass.firstInput = f64(model.firstLayerInput(r.embeddingOutput()).get(0));
        for (NDArray h : r.hiddenStates()) {
            pass.hidden.add(f64(h.get(0)));
        }
        for (NDArray a : r.attentions()) {
            pass.attentions.add(f64(a.get(0)));
        }
        for (NDArray v : r.values()) {
            pass.values.add(f64(v.get(0)));
        }
        pass.logits = r.logits() == null ? null : f64(r.logits().get(0)).toDoubleArray();
        pass.start = r.startLogits() == null ? null : f64(r.startLogits().get(0)).toDoubleArray();
        pass.end = r.endLogits() == null ? null : f64(r.endLogits().get(0)).toDoubleArray();
        return pass;
    }

    private static NDArray f64(NDArray a) {
        return a.toType(DataType.FLOAT64, false);
    }

    /** A float64 copy in {@code scope} of a model parameter (the model's own tensor is left alone), or null. */
    private static NDArray copy(NDArray parameter, NDManager scope) {
        if (parameter == null) {
            return null;
        }
        NDArray c = parameter.toType(DataType.FLOAT64, true);
        c.attach(scope);
        return c;
    }

    private static NDArray param(TransformerModel model, int layer, ParameterRole role, NDManager scope) {
        NDArray p = copy(model.layerParameter(layer, role), scope);
        if (p == null) {
            throw new IllegalStateException(model.config().family().modelType() + " has no " + role);
        }
        return p;
    }

    /** A layer's bias, zeros of {@code size} where the model has none. */
    private static NDArray bias(TransformerModel model, int layer, ParameterRole role, int size, NDManager scope) {
        NDArray p = copy(model.layerParameter(layer, role), scope);
        return p != null ? p : scope.zeros(new Shape(size), DataType.FLOAT64);
    }

    /** A head parameter, or null (a null bias is zero: {@link #biasDecomposer} skips it). */
    private static NDArray global(TransformerModel model, Role role, NDManager scope) {
        return copy(model.globalParameter(role), scope);
    }

    private static double[][] matrix(NDArray a) {
        int rows = (int) a.getShape().get(0);
        int cols = (int) a.getShape().get(1);
        double[] flat = a.toType(DataType.FLOAT64, false).toDoubleArray();
        double[][] m = new double[rows][cols];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * cols, m[r], 0, cols);
        }
        return m;
    }

    /** The first {@code s} columns of each row (the token parts). */
    private static double[][] tokenColumns(double[][] m, int s) {
        double[][] out = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            out[i] = Arrays.copyOf(m[i], s);
        }
        return out;
    }

    /** A [S, d] tensor's rows as float32, as the authors' numpy arrays of the float32 states. */
    private static float[][] rows(NDArray a, int s) {
        float[] flat = a.toType(DataType.FLOAT32, false).toFloatArray();
        int d = flat.length / s;
        float[][] out = new float[s][d];
        for (int i = 0; i < s; i++) {
            System.arraycopy(flat, i * d, out[i], 0, d);
        }
        return out;
    }
}
