package io.attributionatlas.attribution.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.MethodScores;
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
 * separate-bias mode with its bias part), ALTI's and Value Zeroing's layer rows and rollout scores sum to 1. It also
 * prints how far the alternatives the reference offers move the results (ALTI with the value bias apart or eps in
 * σ, DecompX as the authors' code computes it). ModernBERT (pre-norm) gets Value Zeroing only. About 30 s on 2 CPU
 * cores, most of it the real model's DecompX; {@code -Datlas.authors.models=minilm-sst2,hf/bert-cls} runs some models
 * only.
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

    /** The acceptance bounds: token scores' relative L2, per-layer matrices' absolute difference. */
    static final double SCORES_TOLERANCE = 1e-4;
    static final double MATRICES_TOLERANCE = 1e-4;

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
        Map<String, Path> models = models();
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

    /**
     * The engine (float32, samples batched in padded passes) equals the float64 port of the authors' definitions at
     * default options, and at the options' other values equals the reference's matching reading: token scores within
     * 1e-4 relative L2 (DecompX: every class, or every start and end logit for QA), per-layer matrices within 1e-4
     * absolute. Prints each comparison's worst value and the measured effect of each departure left (DecompX as the
     * authors' code computes layer 0's value bias and AbsDot's weights).
     */
    @Test
    void engineEqualsTheAuthorsDefinitions() {
        Map<String, Path> models = models();
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, Path> e : models.entrySet()) {
            try (Predictor p = Predictor.open(e.getValue(), null, Device.cpu())) {
                compare(e.getKey(), p.model(), encode(p), failures);
            }
        }
        assertTrue(failures.isEmpty(), "engine differs from the authors' definitions: " + failures);
    }

    private static void compare(String name, TransformerModel model, List<EncodedText> texts, List<String> failures) {
        AttributionOptions defaults = AttributionOptions.defaults();
        AttributionMethod.MethodContext context = new AttributionMethod.MethodContext(defaults, 0);
        AttributionMethod.MethodContext valueBiasApart = new AttributionMethod.MethodContext(AttributionOptions
                .defaults().set("alti_value_bias", "none"), 0);
        String first = model.config().task() == Task.QUESTION_ANSWERING ? "start" : "class";
        StringBuilder line = new StringBuilder(String.format("engine vs authors %-20s", name));
        // Value Zeroing, every family
        List<AttributionMethod.Decomposition> vz = new ValueZeroing().decompose(model, texts, context);
        double[] worst = new double[2];
        for (int i = 0; i < texts.size(); i++) {
            ValueZeroingResult r = AuthorsReference.valueZeroing(model, texts.get(i));
            MethodScores m = vz.get(i).forTarget(first, 0);
            worst[0] = Math.max(worst[0], relativeL2(m.tokenAttributions(), r.scores()));
            worst[1] = Math.max(worst[1], maxAbsDiff(m.layerMatrices(), r.layers()));
        }
        record(line, failures, name, "value_zeroing", worst);
        // ALTI: the default (b_V with its token) and alti_value_bias=none (b_V apart)
        if (new Alti().refusesModel(model.config()) == null) {
            List<AttributionMethod.Decomposition> alti = new Alti().decompose(model, texts, context);
            List<AttributionMethod.Decomposition> apart = model.config().family().preNorm() ? null
                    : new Alti().decompose(model, texts, valueBiasApart);
            double[] worstApart = new double[2];
            worst = new double[2];
            for (int i = 0; i < texts.size(); i++) {
                AltiResult r = AuthorsReference.alti(model, texts.get(i), true, false);
                MethodScores m = alti.get(i).forTarget(first, 0);
                worst[0] = Math.max(worst[0], relativeL2(m.tokenAttributions(), r.scores()));
                worst[1] = Math.max(worst[1], maxAbsDiff(m.layerMatrices(), r.layers()));
                if (apart != null) {
                    AltiResult ra = AuthorsReference.alti(model, texts.get(i), false, false);
                    MethodScores ma = apart.get(i).forTarget(first, 0);
                    worstApart[0] = Math.max(worstApart[0], relativeL2(ma.tokenAttributions(), ra.scores()));
                    worstApart[1] = Math.max(worstApart[1], maxAbsDiff(ma.layerMatrices(), ra.layers()));
                }
            }
            record(line, failures, name, "alti", worst);
            if (apart != null) {
                record(line, failures, name, "alti(value_bias=none)", worstApart);
            }
        }
        // DecompX: AbsDot (the default) and the separate bias part, against the paper's reading; the code's reading
        // (layer 0's value bias with the tokens, AbsDot weights with the residual) is the departure, measured
        if (new DecompX().refusesModel(model.config()) == null) {
            for (DecompX.BiasSharing sharing : DecompX.BiasSharing.values()) {
                boolean separate = sharing == DecompX.BiasSharing.SEPARATE;
                List<DecompX.Result> engine = DecompX.propagate(model, texts, sharing);
                worst = new double[3];
                double[] departure = new double[3]; // layer 0's b_V; AbsDot with the residual; both (the code)
                double[] codeReading = new double[2];
                for (int i = 0; i < texts.size(); i++) {
                    DecompXResult r = AuthorsReference.decompx(model, texts.get(i), separate
                            ? DecompXVariant.SEPARATE_BIAS : DecompXVariant.PAPER);
                    DecompX.Result e = engine.get(i);
                    for (double[][] output : outputs(e, r)) {
                        worst[0] = Math.max(worst[0], relativeL2(output[0], output[1]));
                    }
                    worst[1] = Math.max(worst[1], maxAbsDiff(e.partNorms(), r.layerNorms()));
                    worst[2] = Math.max(worst[2], maxAbsDiff(e.layerMatrices(), r.summary()));
                    if (!separate) {
                        // the option decompx_reading=code against the authors' code as the reference ports it
                        DecompX.Result asCode = DecompX.propagate(model, List.of(texts.get(i)), new DecompX.Definition(
                                sharing, true), 1L << 24).get(0);
                        DecompXResult code = AuthorsReference.decompx(model, texts.get(i), DecompXVariant.CODE);
                        for (double[][] output : outputs(asCode, code)) {
                            codeReading[0] = Math.max(codeReading[0], relativeL2(output[0], output[1]));
                        }
                        codeReading[1] = Math.max(codeReading[1], maxAbsDiff(asCode.partNorms(), code.layerNorms()));
                        List<DecompXVariant> readings = List.of(new DecompXVariant(false, true, false),
                                new DecompXVariant(false, false, true), DecompXVariant.CODE);
                        for (int v = 0; v < readings.size(); v++) {
                            for (double[][] output : outputs(e, AuthorsReference.decompx(model, texts.get(i),
                                    readings.get(v)))) {
                                departure[v] = Math.max(departure[v], relativeL2(output[0], output[1]));
                            }
                        }
                    }
                }
                record(line, failures, name, separate ? "decompx(bias=separate)" : "decompx", worst);
                if (!separate) {
                    record(line, failures, name, "decompx(reading=code) vs the code", codeReading);
                    line.append(String.format("; decompx vs the authors' code: layer 0's b_V %.2e, AbsDot with the "
                            + "residual %.2e, both %.2e", departure[0], departure[1], departure[2]));
                }
            }
        }
        System.out.println(line);
    }

    /** Per output (class, or start and end logit), the engine's and the reference's token parts (with the bias part). */
    private static List<double[][]> outputs(DecompX.Result e, DecompXResult r) {
        List<double[][]> out = new ArrayList<>();
        int parts = r.parts();
        if (r.classifierParts() != null) {
            for (int label = 0; label < r.classifierParts()[0].length; label++) {
                double[] engine = new double[parts];
                double[] reference = new double[parts];
                for (int k = 0; k < parts; k++) {
                    engine[k] = k < r.tokens() ? e.targetPart("class", label, k) : e.biasPart("class", label);
                    reference[k] = r.classifierParts()[k][label];
                }
                out.add(new double[][] {engine, reference});
            }
            return out;
        }
        int s = r.tokens();
        for (String target : List.of("start", "end")) {
            double[] engine = new double[parts * s];
            double[] reference = new double[parts * s];
            for (int position = 0; position < s; position++) {
                for (int k = 0; k < parts; k++) {
                    engine[position * parts + k] = k < r.tokens() ? e.targetPart(target, position, k)
                            : e.biasPart(target, position);
                    reference[position * parts + k] = r.qaParts()[k][position][target.equals("start") ? 0 : 1];
                }
            }
            out.add(new double[][] {engine, reference});
        }
        return out;
    }

    /** Appends a comparison's worst values (scores' relative L2, then matrices' absolute) and checks them. */
    private static void record(StringBuilder line, List<String> failures, String model, String method,
            double[] worst) {
        line.append(String.format("; %s scores %.2e, matrices %.2e", method, worst[0], worst[1]));
        if (worst.length > 2) {
            line.append(String.format(" (norms), %.2e (summary)", worst[2]));
        }
        if (!(worst[0] <= SCORES_TOLERANCE)) {
            failures.add(model + " " + method + " scores " + worst[0]);
        }
        for (int k = 1; k < worst.length; k++) {
            if (!(worst[k] <= MATRICES_TOLERANCE)) {
                failures.add(model + " " + method + " matrices " + worst[k]);
            }
        }
    }

    /** ‖a − b‖₂ / ‖b‖₂. */
    private static double relativeL2(float[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return relativeL2(d, b);
    }

    private static double relativeL2(double[] a, double[] b) {
        assertEquals(b.length, a.length);
        double difference = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            difference += (a[i] - b[i]) * (a[i] - b[i]);
            norm += b[i] * b[i];
        }
        return Math.sqrt(difference / norm);
    }

    private static double maxAbsDiff(float[][][] a, double[][][] b) {
        assertEquals(b.length, a.length, "layers");
        double worst = 0;
        for (int l = 0; l < a.length; l++) {
            assertEquals(b[l].length, a[l].length, "rows");
            for (int i = 0; i < a[l].length; i++) {
                for (int j = 0; j < a[l][i].length; j++) {
                    worst = Math.max(worst, Math.abs(a[l][i][j] - b[l][i][j]));
                }
            }
        }
        return worst;
    }

    /** The real model and the fixtures, or those -Datlas.authors.models names. */
    private static Map<String, Path> models() {
        Map<String, Path> models = new LinkedHashMap<>();
        models.put("minilm-sst2", Fixtures.realModel());
        for (String name : FIXTURES) {
            models.put(name, Fixtures.golden(name));
        }
        String only = System.getProperty("atlas.authors.models"); // e.g. -Datlas.authors.models=minilm-sst2,hf/bert-cls
        if (only != null) {
            models.keySet().retainAll(List.of(only.split(",")));
        }
        return models;
    }

    private static void check(String name, TransformerModel model, List<EncodedText> texts, long start) {
        // the reference's own rule (post-norm layers only), not the family's: ModernBERT is left to Value Zeroing
        String refusal = AuthorsReference.decompositionRefusal(model);
        Worst w = new Worst();
        int minLength = Integer.MAX_VALUE;
        int maxLength = 0;
        long[] nanos = new long[3];
        for (EncodedText text : texts) {
            minLength = Math.min(minLength, text.length());
            maxLength = Math.max(maxLength, text.length());
            long t0 = System.nanoTime();
            if (refusal == null) {
                AltiResult alti = AuthorsReference.alti(model, text, true, false);
                assertEquals(model.config().numLayers(), alti.layers().length);
                w.altiRows = Math.max(w.altiRows, rowSumError(alti.layers()));
                w.altiScores = Math.max(w.altiScores, sumError(alti.scores()));
                w.altiResultant = Math.max(w.altiResultant, alti.maxResultantError());
                // the alternatives, measured against the authors' code
                AltiResult biasApart = AuthorsReference.alti(model, text, false, false);
                AltiResult epsInSigma = AuthorsReference.alti(model, text, true, true);
                w.altiRows = Math.max(w.altiRows, Math.max(rowSumError(biasApart.layers()),
                        rowSumError(epsInSigma.layers())));
                w.altiScores = Math.max(w.altiScores, Math.max(sumError(biasApart.scores()),
                        sumError(epsInSigma.scores())));
                w.altiBiasApart = Math.max(w.altiBiasApart, maxAbsDiff(alti.scores(), biasApart.scores()));
                w.altiEpsInSigma = Math.max(w.altiEpsInSigma, maxAbsDiff(alti.scores(), epsInSigma.scores()));
            }
            long t1 = System.nanoTime();
            if (refusal == null) {
                DecompXResult paper = AuthorsReference.decompx(model, text, DecompXVariant.PAPER);
                assertEquals(text.length(), paper.parts());
                w.decompx(paper, false);
                DecompXResult separate = AuthorsReference.decompx(model, text, DecompXVariant.SEPARATE_BIAS);
                assertEquals(text.length() + 1, separate.parts());
                w.decompx(separate, true);
                DecompXResult code = AuthorsReference.decompx(model, text, DecompXVariant.CODE);
                w.decompx(code, false);
                double[] paperParts = tokenHeadParts(paper);
                w.decompxCode = Math.max(w.decompxCode, maxAbsDiff(paperParts, tokenHeadParts(code))
                        / maxAbs(paperParts));
                if (separate.classifierParts() != null) {
                    double total = 0;
                    for (double[] part : separate.classifierParts()) {
                        total += Math.abs(part[0]);
                    }
                    double share = Math.abs(separate.biasScore(0)) / total;
                    w.biasShare = Double.isNaN(w.biasShare) ? share : Math.max(w.biasShare, share);
                }
            }
            long t2 = System.nanoTime();
            ValueZeroingResult vz = AuthorsReference.valueZeroing(model, text);
            assertEquals(model.config().numLayers(), vz.layers().length);
            w.vzRows = Math.max(w.vzRows, rowSumError(vz.layers()));
            w.vzScores = Math.max(w.vzScores, sumError(vz.scores()));
            long t3 = System.nanoTime();
            nanos[0] += t1 - t0;
            nanos[1] += t2 - t1;
            nanos[2] += t3 - t2;
        }
        System.out.printf("authors' reference %-20s %d-%d tokens, %.1f s (ALTI %.1f, DecompX %.1f, VZ %.1f)%n",
                name, minLength, maxLength, (System.nanoTime() - start) / 1e9, nanos[0] / 1e9, nanos[1] / 1e9,
                nanos[2] / 1e9);
        if (refusal != null) {
            System.out.printf("    ALTI and DecompX skipped: %s%n", refusal);
        } else {
            System.out.printf("    ALTI: |row sum − 1| %.1e, |Σ scores − 1| %.1e, max |y − LN1(s)| %.1e; max |Δ scores| "
                    + "with b_V apart %.1e, with eps in σ %.1e%n", w.altiRows, w.altiScores, w.altiResultant,
                    w.altiBiasApart, w.altiEpsInSigma);
            System.out.printf("    DecompX: max rel |Σ parts − layer output| %.1e; head: rel |Σ parts − own output| "
                    + "%.1e (separate bias %.1e), vs the model's float32 outputs %.1e; bias part's share of logit 0 "
                    + "≤ %.2f; code vs paper: max |Δ token head parts| / max |part| %.1e%n", w.hiddenRel, w.headRel,
                    w.headRelSeparate, w.modelRel, w.biasShare, w.decompxCode);
        }
        System.out.printf("    VZ: |row sum − 1| %.1e, |Σ scores − 1| %.1e%n", w.vzRows, w.vzScores);
        if (refusal == null) {
            assertTrue(w.altiRows <= 1e-9, name + " ALTI rows " + w.altiRows);
            assertTrue(w.altiScores <= 1e-9, name + " ALTI scores " + w.altiScores);
            assertTrue(w.hiddenRel <= 1e-5, name + " DecompX parts recompose the layer outputs: " + w.hiddenRel);
            assertTrue(w.headRel <= 1e-6, name + " DecompX head parts sum to the logits: " + w.headRel);
            assertTrue(w.headRelSeparate <= 1e-6, name + " DecompX head parts with the bias part: "
                    + w.headRelSeparate);
            assertTrue(w.modelRel <= 1e-4, name + " DecompX head parts against the model's outputs: " + w.modelRel);
        }
        assertTrue(w.vzRows <= 1e-9, name + " VZ rows " + w.vzRows);
        assertTrue(w.vzScores <= 1e-9, name + " VZ scores " + w.vzScores);
    }

    /** The worst values over a model's samples. */
    private static final class Worst {
        double altiRows;
        double altiScores;
        double altiResultant;
        double altiBiasApart;
        double altiEpsInSigma;
        double hiddenRel;
        double headRel;
        double headRelSeparate;
        double modelRel;
        double biasShare = Double.NaN;
        double decompxCode;
        double vzRows;
        double vzScores;

        void decompx(DecompXResult r, boolean separate) {
            for (double e : r.hiddenRelError()) {
                hiddenRel = Math.max(hiddenRel, e);
            }
            if (separate) {
                headRelSeparate = Math.max(headRelSeparate, r.headRelError());
            } else {
                headRel = Math.max(headRel, r.headRelError());
            }
            modelRel = Math.max(modelRel, r.modelHeadRelError());
        }
    }

    /** The token parts' head outputs, flattened: [S][labels] for classification, [S][S][2] for QA. */
    private static double[] tokenHeadParts(DecompXResult r) {
        List<Double> out = new ArrayList<>();
        for (int k = 0; k < r.tokens(); k++) {
            if (r.classifierParts() != null) {
                for (double v : r.classifierParts()[k]) {
                    out.add(v);
                }
            } else {
                for (double[] position : r.qaParts()[k]) {
                    out.add(position[0]);
                    out.add(position[1]);
                }
            }
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static double maxAbsDiff(double[] a, double[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    private static double maxAbs(double[] a) {
        double worst = 0;
        for (double v : a) {
            worst = Math.max(worst, Math.abs(v));
        }
        return worst;
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
