package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.cli.Csv;
import io.attributionatlas.Fixtures;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The real fine-tuned model reaches the SST-2 dev accuracy its PROVENANCE.md states (767/872 = 0.8796). */
class RealModelAccuracyTest {

    private static final double STATED_ACCURACY = 767.0 / 872.0;

    @Test
    void predictsSst2DevWithStatedAccuracy() throws Exception {
        List<List<String>> rows = Csv.read(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"));
        assertEquals(List.of("sentence", "label"), rows.get(0));
        List<TextInput> inputs = new ArrayList<>();
        List<String> gold = new ArrayList<>();
        for (List<String> r : rows.subList(1, rows.size())) {
            inputs.add(TextInput.of(r.get(0)));
            gold.add(r.get(1).equals("pos") ? "POSITIVE" : "NEGATIVE");
        }
        assertEquals(872, inputs.size());
        try (Predictor predictor = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
            List<Prediction> predictions = predictor.predict(inputs, 32);
            int correct = 0;
            for (int i = 0; i < inputs.size(); i++) {
                assertEquals(inputs.get(i), predictions.get(i).input(), "predictions keep input order");
                correct += predictions.get(i).label().equals(gold.get(i)) ? 1 : 0;
            }
            double accuracy = correct / (double) inputs.size();
            assertTrue(Math.abs(accuracy - STATED_ACCURACY) <= 0.005,
                    "accuracy " + correct + "/872 = " + accuracy + ", stated " + STATED_ACCURACY);
        }
    }
}
