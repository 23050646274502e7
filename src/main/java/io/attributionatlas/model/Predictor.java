package io.attributionatlas.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.Prediction.AnswerSpan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/** A model directory's tokenizer and model together: text in, predictions out, batched by length. */
public final class Predictor implements AutoCloseable {

    /** Longest answer span considered, in tokens (as the transformers QA pipeline's max_answer_len). */
    public static final int MAX_ANSWER_TOKENS = 30;

    private final TransformerModel model;
    private final TextTokenizer tokenizer;

    public Predictor(TransformerModel model, TextTokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Loads model and tokenizer (float32 products); texts are truncated to the model's maximum positions. */
    public static Predictor open(Path dir, Task taskOverride, Device device) {
        return open(dir, taskOverride, device, Precision.FP32);
    }

    /** Loads model and tokenizer; texts are truncated to the model's maximum positions. */
    public static Predictor open(Path dir, Task taskOverride, Device device, Precision precision) {
        TransformerModel model = TransformerModel.load(dir, taskOverride, device, precision);
        try {
            return new Predictor(model, TextTokenizer.open(dir, model.config().maxLength(),
                    model.config().family().specialTokenNames()));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    public TransformerModel model() {
        return model;
    }

    public TextTokenizer tokenizer() {
        return tokenizer;
    }

    public EncodedText encode(TextInput input) {
        return tokenizer.encode(input.text(), input.textPair());
    }

    /** An input as the tokenizer read it (a giant text cut to what truncation keeps and a little more) and its encoding. */
    public TextTokenizer.Read read(TextInput input) {
        return tokenizer.read(input.text(), input.textPair());
    }

    public long padId() {
        long pad = tokenizer.specialTokens().pad();
        return pad >= 0 ? pad : model.config().padTokenId();
    }

    /** Predicts every input; rows are sorted by length into batches of {@code batchSize} so padding stays small. */
    public List<Prediction> predict(List<TextInput> inputs, int batchSize) {
        TransformerModel.disableGradModeOnThisThread();
        List<EncodedText> encoded = inputs.stream().map(this::encode).toList();
        Integer[] order = new Integer[inputs.size()];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.comparingInt(i -> encoded.get(i).length()));
        Prediction[] out = new Prediction[inputs.size()];
        for (int from = 0; from < order.length; from += batchSize) {
            List<Integer> rows = Arrays.asList(order).subList(from, Math.min(order.length, from + batchSize));
            List<EncodedText> texts = rows.stream().map(encoded::get).toList();
            List<Prediction> predictions = predictBatch(rows.stream().map(inputs::get).toList(), texts);
            for (int k = 0; k < rows.size(); k++) {
                out[rows.get(k)] = predictions.get(k);
            }
        }
        return List.of(out);
    }

    private List<Prediction> predictBatch(List<TextInput> inputs, List<EncodedText> texts) {
        EncodedBatch batch = EncodedBatch.ofTexts(texts, padId());
        try (NDManager scope = model.manager().newSubManager()) {
            return predictions(inputs, texts, model.forward(batch, ForwardOptions.predictOnly(), scope));
        }
    }

    /**
     * The predictions of a forward pass whose rows are these encodings, padded: its logits (or start and end
     * logits) cross to the host in one transfer.
     */
    public List<Prediction> predictions(List<TextInput> inputs, List<EncodedText> texts, ForwardResult r) {
        List<Prediction> out = new ArrayList<>();
        if (r.logits() != null) {
            int classes = (int) r.logits().getShape().get(1);
            float[] all = r.logits().toType(DataType.FLOAT32, false).toFloatArray();
            for (int b = 0; b < texts.size(); b++) {
                float[] logits = Arrays.copyOfRange(all, b * classes, (b + 1) * classes);
                int best = argmax(logits);
                out.add(new Prediction(inputs.get(b), texts.get(b), logits, softmax(logits), best,
                        model.config().labels().get(best), null, null, null));
            }
            return out;
        }
        if (r.startLogits() != null) {
            int seq = (int) r.startLogits().getShape().get(1);
            float[] both = NDArrays.stack(new NDList(r.startLogits(), r.endLogits()))
                    .toType(DataType.FLOAT32, false).toFloatArray();
            int rows = texts.size();
            for (int b = 0; b < rows; b++) {
                EncodedText text = texts.get(b);
                float[] start = Arrays.copyOfRange(both, b * seq, b * seq + text.length());
                float[] end = Arrays.copyOfRange(both, (rows + b) * seq, (rows + b) * seq + text.length());
                out.add(new Prediction(inputs.get(b), text, null, null, -1, null, start, end,
                        answer(text, start, end, inputs.get(b).textPair() != null)));
            }
            return out;
        }
        for (int b = 0; b < texts.size(); b++) {
            out.add(new Prediction(inputs.get(b), texts.get(b), null, null, -1, null, null, null, null));
        }
        return out;
    }

    /** The span maximising start + end logit over the context's tokens (the pair text, or the text alone). */
    private AnswerSpan answer(EncodedText text, float[] start, float[] end, boolean pair) {
        int context = pair ? 1 : 0;
        int bestStart = -1;
        int bestEnd = -1;
        float bestScore = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < text.length(); i++) {
            if (text.sequence()[i] != context) {
                continue;
            }
            for (int j = i; j < Math.min(text.length(), i + MAX_ANSWER_TOKENS); j++) {
                if (text.sequence()[j] != context) {
                    break;
                }
                float score = start[i] + end[j];
                if (score > bestScore) {
                    bestScore = score;
                    bestStart = i;
                    bestEnd = j;
                }
            }
        }
        float noAnswer = start[0] + end[0];
        if (bestStart < 0) {
            return new AnswerSpan(-1, -1, "", Float.NaN, noAnswer);
        }
        String answer = tokenizer.decode(Arrays.copyOfRange(text.ids(), bestStart, bestEnd + 1));
        return new AnswerSpan(bestStart, bestEnd, answer, bestScore, noAnswer);
    }

    public static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            e[i] = Math.exp(logits[i] - max);
            sum += e[i];
        }
        float[] p = new float[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) (e[i] / sum);
        }
        return p;
    }

    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    @Override
    public void close() {
        tokenizer.close();
        model.close();
    }
}
