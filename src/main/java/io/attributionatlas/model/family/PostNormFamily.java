package io.attributionatlas.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ConfigFields;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.EncoderOps;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;

/**
 * What BERT and its descendants share: word (+ position) (+ token type) embeddings and a norm, optionally
 * projected to the hidden size; post-norm layers with separate query, key and value; a classifier of
 * dense → activation → output on the first token, and QA outputs on every token. A family says its names.
 */
public abstract class PostNormFamily implements EncoderFamily {

    /** One layer's eight modules under the family's names, after the layer's prefix. */
    protected record LayerNames(String query, String key, String value, String attentionOutput,
            String attentionNorm, String ffnIn, String ffnOut, String outputNorm) {
        static final LayerNames BERT = new LayerNames("attention.self.query", "attention.self.key",
                "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                "output.dense", "output.LayerNorm");
    }

    /** The classifier's dense layer (in the base model, as BERT's pooler, or in the head) and output layer. */
    protected record ClassifierNames(String hidden, boolean hiddenInBase, String output) {
        static final ClassifierNames DENSE_OUT_PROJ = new ClassifierNames("classifier.dense", false,
                "classifier.out_proj");
    }

    private final String modelType;
    private final String basePrefix;

    protected PostNormFamily(String modelType, String basePrefix) {
        this.modelType = modelType;
        this.basePrefix = basePrefix;
    }

    @Override
    public final String modelType() {
        return modelType;
    }

    @Override
    public final String basePrefix() {
        return basePrefix;
    }

    /** The prefix of a layer's parameters, e.g. "encoder.layer.3.". */
    protected String layerPrefix(int layer) {
        return "encoder.layer." + layer + ".";
    }

    protected LayerNames layerNames() {
        return LayerNames.BERT;
    }

    protected abstract ClassifierNames classifierNames();

    /** The activation between the classifier's dense layer and its output. */
    @Override
    public abstract Activation classifierActivation(ModelConfig config);

    /** Whether the embeddings add absolute positions from a table. */
    protected boolean hasPositionTable() {
        return true;
    }

    /** The embedding projection's module name, where {@link #projectsEmbeddings} holds. */
    protected String projectionName() {
        return "embeddings_project";
    }

    /**
     * An absolute position table means absolute positions only: any other {@code position_embedding_type}
     * (relative_key, relative_key_query) is refused by key. Families with settings of their own override this.
     */
    @Override
    public Object readSettings(ConfigFields fields, ModelConfig common) {
        if (hasPositionTable()) {
            fields.requireAbsolutePositions();
        }
        return null;
    }

    /** Global parameters of the family's own, declared after the embeddings and before the layers. */
    protected void declareEncoderParameters(ParameterLayout layout) {
    }

    @Override
    public void declareParameters(ParameterLayout layout) {
        ModelConfig c = layout.config();
        long h = c.hiddenSize();
        long e = c.embeddingSize();
        long ffn = c.intermediateSize();
        layout.base(Role.WORD_EMB, "embeddings.word_embeddings.weight", c.vocabSize(), e);
        if (hasPositionTable()) {
            layout.base(Role.POS_EMB, "embeddings.position_embeddings.weight", c.maxPositions(), e);
        }
        if (c.typeVocabSize() > 0) {
            layout.base(Role.TYPE_EMB, "embeddings.token_type_embeddings.weight", c.typeVocabSize(), e);
        }
        layout.base(Role.EMB_NORM_W, "embeddings.LayerNorm.weight", e);
        layout.base(Role.EMB_NORM_B, "embeddings.LayerNorm.bias", e);
        if (c.hasEmbeddingProjection()) {
            layout.base(Role.EMB_PROJ_W, projectionName() + ".weight", h, e);
            layout.base(Role.EMB_PROJ_B, projectionName() + ".bias", h);
        }
        declareEncoderParameters(layout);
        LayerNames n = layerNames();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = layerPrefix(i);
            layout.addLayer()
                    .linear(LayerRole.QUERY_W, LayerRole.QUERY_B, p + n.query(), h, h)
                    .linear(LayerRole.KEY_W, LayerRole.KEY_B, p + n.key(), h, h)
                    .linear(LayerRole.VALUE_W, LayerRole.VALUE_B, p + n.value(), h, h)
                    .linear(LayerRole.ATTN_OUT_W, LayerRole.ATTN_OUT_B, p + n.attentionOutput(), h, h)
                    .norm(LayerRole.ATTN_NORM_W, LayerRole.ATTN_NORM_B, p + n.attentionNorm(), h)
                    .linear(LayerRole.FFN_IN_W, LayerRole.FFN_IN_B, p + n.ffnIn(), ffn, h)
                    .linear(LayerRole.FFN_OUT_W, LayerRole.FFN_OUT_B, p + n.ffnOut(), h, ffn)
                    .norm(LayerRole.OUT_NORM_W, LayerRole.OUT_NORM_B, p + n.outputNorm(), h);
        }
        declareHeads(layout);
    }

    /** The task's head: the classifier (dense, output) or QA outputs [2, hidden]; none for the bare encoder. */
    protected void declareHeads(ParameterLayout layout) {
        ModelConfig c = layout.config();
        long h = c.hiddenSize();
        switch (c.task()) {
            case SEQUENCE_CLASSIFICATION -> {
                ClassifierNames n = classifierNames();
                if (n.hiddenInBase()) {
                    layout.base(Role.CLS_HIDDEN_W, n.hidden() + ".weight", h, h);
                    layout.base(Role.CLS_HIDDEN_B, n.hidden() + ".bias", h);
                } else {
                    layout.head(Role.CLS_HIDDEN_W, n.hidden() + ".weight", h, h);
                    layout.head(Role.CLS_HIDDEN_B, n.hidden() + ".bias", h);
                }
                layout.head(Role.CLS_OUT_W, n.output() + ".weight", c.numLabels(), h);
                layout.head(Role.CLS_OUT_B, n.output() + ".bias", c.numLabels());
            }
            case QUESTION_ANSWERING -> {
                layout.head(Role.QA_W, "qa_outputs.weight", 2, h);
                layout.head(Role.QA_B, "qa_outputs.bias", 2);
            }
            case ENCODER -> { }
        }
    }

    /** dense → activation → output on the first token. */
    @Override
    public NDArray classify(EncoderOps ops, NDArray last, NDArray mask) {
        NDArray first = last.get(new NDIndex(":, 0"));
        return ops.linear(classifierActivation(ops.config()).apply(ops.linear(first, Role.CLS_HIDDEN_W,
                Role.CLS_HIDDEN_B)), Role.CLS_OUT_W, Role.CLS_OUT_B);
    }

    @Override
    public String toString() {
        return modelType();
    }
}
