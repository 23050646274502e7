package io.attributionatlas.attribution;

/**
 * The attributions of one target F of one sample. Token arrays have the sample's length S; arrays of
 * analyses that were switched off are null.
 *
 * @param name class, start or end
 * @param index the class index, or the token position for start/end
 * @param label the class label, or the token at the position
 * @param fInput F(x)
 * @param fBaseline F(x')
 * @param igTokenSum integrated gradients summed over the hidden dimension [S]
 * @param igTokenNorm {@code igTokenSum} divided by its L2 norm [S]
 * @param delta convergence delta Σ attributions − (F(x) − F(x'))
 * @param layerTokenSum conductance of each layer's output summed over hidden [L][S]
 * @param layerTotal conductance of each layer summed over tokens [L] (≈ F(x) − F(x'))
 * @param attentionConductance conductance of the attention probabilities [L][H][S][S], when the sample asked for
 *     its matrices
 * @param headConductance the per-head statistics of the attention conductance, reduced on the model's device
 * @param gradXInput gradient × input at the embedding output, summed over hidden [S]
 * @param headImportance |∂F/∂ξ_h| [L][H]
 */
public record TargetAttribution(
        String name,
        int index,
        String label,
        double fInput,
        double fBaseline,
        float[] igTokenSum,
        float[] igTokenNorm,
        double delta,
        float[][] layerTokenSum,
        double[] layerTotal,
        float[][][][] attentionConductance,
        HeadConductance headConductance,
        float[] gradXInput,
        float[][] headImportance,
        java.util.Map<String, MethodScores> methods,
        java.util.Map<String, double[]> faithfulness) {
}
