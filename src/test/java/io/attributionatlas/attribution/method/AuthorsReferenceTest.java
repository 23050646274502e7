package io.attributionatlas.attribution.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.method.AuthorsReference.AltiResult;
import io.attributionatlas.attribution.method.AuthorsReference.DecompXResult;
import io.attributionatlas.attribution.method.AuthorsReference.DecompXVariant;
import io.attributionatlas.attribution.method.AuthorsReference.ValueZeroingResult;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TransformerModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The float64 reference of ALTI, DecompX and Value Zeroing ported from their authors' code
 * ({@link AuthorsReference}) satisfies its own axioms on the real model and the models transformers saved, on 8
 * held-out sentences: DecompX's parts recompose every layer's output and the head's outputs (AbsDot, and the
 * separate-bias mode with its bias part), ALTI's and Value Zeroing's layer rows and rollout scores sum to 1.
 */
class AuthorsReferenceTest {

    /** Held out: none of the demo sentences. */
    static final List<String> SENTENCES = List.of(
            "the plot meanders but the performances hold it together .",
            "a quiet film that rewards patience with real warmth .",
            "the jokes land less often than the director seems to think .",
            "every scene feels padded , and the ending drags on forever .",
            "an honest , funny and surprisingly moving portrait of a family .",
            "the dialogue is clumsy though the photography is lovely .",
            "i have rarely been so bored in a theater .",
            "it never quite decides what kind of story it wants to tell .");

    /** The question QA models read before each sentence. */
    static final String QUESTION = "what holds it together ?";

    static final List<String> FIXTURES = List.of("tiny-bert-cls", "tiny-bert-qa", "tiny-distilbert-cls",
            "tiny-distilbert-qa", "tiny-electra-cls", "tiny-electra-qa", "hf/bert-cls", "hf/roberta-cls",
            "hf/roberta-qa", "hf/xlm-roberta-cls", "hf/albert-cls", "hf/deberta-v2-cls", "hf/deberta-v2-qa",
            "hf-next/mpnet-cls", "hf-next/mpnet-qa", "hf/modernbert-cls");

    /** The samples of a model: the sentences, after the question for QA models. */
    static List<EncodedText> encode(Predictor p) {
        List<EncodedText> texts = new ArrayList<>();
        for (String sentence : SENTENCES) {
            texts.add(p.model().config().task() == Task.QUESTION_ANSWERING ? p.tokenizer().encode(QUESTION, sentence)
                    : p.tokenizer().encode(sentence));
        }
        return texts;
    }

    @Test
    void referenceSatisfiesItsOwnAxioms() {
        Map<String, Path> models = new LinkedHashMap<>();
        models.put("minilm-sst2", Fixtures.realModel());
        for (String name : FIXTURES) {
            models.put(name, Fixtures.golden(name));
        }
        String only = System.getProperty("atlas.authors.models"); // e.g. -Datlas.authors.models=minilm-sst2,hf/bert-cls
        if (only != null) {
            models.keySet().retainAll(List.of(only.split(",")));
        }
        List<String> failures = new ArrayList<>();
        long startAll = System.nanoTime();
        for (Map.Entry<String, Path> e : models.entrySet()) {
            long start = System.nanoTime();
            try (Predictor p = Predictor.open(e.getValue(), null, Device.cpu())) {
                check(e.getKey(), p.model(), encode(p), start);
            } catch (RuntimeException ex) {
                failures.add(e.getKey() + ": " + ex);
                System.out.printf("authors' reference %-20s FAILED: %s%n", e.getKey(), ex);
            }
        }
        System.out.printf("authors' reference: %d models in %.1f s%n", models.size(),
                (System.nanoTime() - startAll) / 1e9);
        assertTrue(failures.isEmpty(), "models that failed: " + failures);
    }

    private static void check(String name, TransformerModel model, List<EncodedText> texts, long start) {
        String altiRefusal = model.config().family().refusesDecomposition("alti");
        String decompxRefusal = model.config().family().refusesDecomposition("decompx");
        double altiRows = 0;
        double altiScores = 0;
        double altiResultant = 0;
        double hiddenRel = 0;
        double headRel = 0;
        double modelRel = 0;
        double headRelSeparate = 0;
        double biasShare = 0;
        double vzRows = 0;
        double vzScores = 0;
        int minLength = Integer.MAX_VALUE;
        int maxLength = 0;
        long[] nanos = new long[4];
        for (EncodedText text : texts) {
            minLength = Math.min(minLength, text.length());
            maxLength = Math.max(maxLength, text.length());
            long t0 = System.nanoTime();
            if (altiRefusal == null) {
                AltiResult alti = AuthorsReference.alti(model, text, true, false);
                assertEquals(model.config().numLayers(), alti.layers().length);
                altiRows = Math.max(altiRows, rowSumError(alti.layers()));
                altiScores = Math.max(altiScores, sumError(alti.scores()));
                altiResultant = Math.max(altiResultant, alti.maxResultantError());
            }
            long t1 = System.nanoTime();
            nanos[0] += t1 - t0;
            if (decompxRefusal == null) {
                DecompXResult paper = AuthorsReference.decompx(model, text, DecompXVariant.PAPER);
                assertEquals(text.length(), paper.parts());
                for (double r : paper.hiddenRelError()) {
                    hiddenRel = Math.max(hiddenRel, r);
                }
                headRel = Math.max(headRel, paper.headRelError());
                modelRel = Math.max(modelRel, paper.modelHeadRelError());
                nanos[1] += System.nanoTime() - t1;
                long t2 = System.nanoTime();
                DecompXResult separate = AuthorsReference.decompx(model, text, DecompXVariant.SEPARATE_BIAS);
                assertEquals(text.length() + 1, separate.parts());
                for (double r : separate.hiddenRelError()) {
                    hiddenRel = Math.max(hiddenRel, r);
                }
                headRelSeparate = Math.max(headRelSeparate, separate.headRelError());
                nanos[2] += System.nanoTime() - t2;
                if (separate.classifierParts() != null) {
                    double total = 0;
                    for (double[] part : separate.classifierParts()) {
                        total += Math.abs(part[0]);
                    }
                    biasShare = Math.max(biasShare, Math.abs(separate.biasScore(0)) / total);
                }
            }
            long t3 = System.nanoTime();
            ValueZeroingResult vz = AuthorsReference.valueZeroing(model, text);
            nanos[3] += System.nanoTime() - t3;
            assertEquals(model.config().numLayers(), vz.layers().length);
            vzRows = Math.max(vzRows, rowSumError(vz.layers()));
            vzScores = Math.max(vzScores, sumError(vz.scores()));
        }
        System.out.printf("authors' reference %-20s %d-%d tokens, %.1f s | ALTI |row sum−1| %.1e, |Σ scores−1| %.1e, "
                + "max|y−LN1(s)| %.1e | DecompX max rel |Σ parts−hidden| %.1e, head rel error %.1e (separate bias "
                + "%.1e; vs the model's float32 outputs %.1e, bias part's share of |logit 0 parts| ≤ %.2f) | VZ |row sum−1| %.1e, |Σ scores−1| %.1e | s: ALTI %.1f, DecompX %.1f + %.1f, VZ %.1f%n",
                name, minLength, maxLength, (System.nanoTime() - start) / 1e9, altiRows, altiScores, altiResultant,
                hiddenRel, headRel, headRelSeparate, modelRel, biasShare, vzRows, vzScores, nanos[0] / 1e9, nanos[1] / 1e9,
                nanos[2] / 1e9, nanos[3] / 1e9);
        if (altiRefusal == null) {
            assertTrue(altiRows <= 1e-9, name + " ALTI rows " + altiRows);
            assertTrue(altiScores <= 1e-9, name + " ALTI scores " + altiScores);
        }
        if (decompxRefusal == null) {
            assertTrue(hiddenRel <= 1e-5, name + " DecompX parts recompose the layer outputs: " + hiddenRel);
            assertTrue(headRel <= 1e-6, name + " DecompX head parts sum to the logits: " + headRel);
            assertTrue(headRelSeparate <= 1e-6, name + " DecompX head parts with the bias part: " + headRelSeparate);
        }
        assertTrue(vzRows <= 1e-9, name + " VZ rows " + vzRows);
        assertTrue(vzScores <= 1e-9, name + " VZ scores " + vzScores);
    }

    /** Max over layers and rows of |Σ_j row − 1|, checking every share is non-negative. */
    private static double rowSumError(double[][][] layers) {
        double worst = 0;
        for (double[][] layer : layers) {
            for (double[] row : layer) {
                for (double v : row) {
                    assertTrue(v >= 0, "a share is not negative");
                }
                worst = Math.max(worst, sumError(row));
            }
        }
        return worst;
    }

    private static double sumError(double[] v) {
        double sum = 0;
        for (double x : v) {
            sum += x;
        }
        return Math.abs(sum - 1);
    }
}
