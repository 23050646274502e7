package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.model.Prediction;
import io.attributionatlas.schema.Keys;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Slice definitions: parsing, bucket edges, the "other" overflow and samples a definition does not apply to. */
class SlicesTest {

    private static Prediction classified(int index, String label, float... probabilities) {
        return new Prediction(null, null, probabilities, probabilities, index, label, null, null, null);
    }

    private static Map<String, String> values(List<Keys.Slice> slices) {
        Map<String, String> out = new java.util.TreeMap<>();
        slices.forEach(s -> out.put(s.slice(), s.value()));
        return out;
    }

    @Test
    void lengthBucketsAreHalfOpenAndConfidenceBucketsCloseAtTheTop() {
        Slices.Edges lengths = new Slices.Edges(new double[] {0, 16, 32}, new String[] {"0", "16", "32"});
        assertEquals("0-16", Slices.bucket(lengths, 0, false));
        assertEquals("0-16", Slices.bucket(lengths, 15, false));
        assertEquals("16-32", Slices.bucket(lengths, 16, false));
        assertEquals("32+", Slices.bucket(lengths, 32, false));
        Slices.Edges confidence = new Slices.Edges(new double[] {0.5, 0.9, 1.0}, new String[] {"0.5", "0.9", "1.0"});
        assertEquals("<0.5", Slices.bucket(confidence, 0.3, true));
        assertEquals("0.5-0.9", Slices.bucket(confidence, 0.5, true));
        assertEquals("0.9-1.0", Slices.bucket(confidence, 0.9, true));
        assertEquals("0.9-1.0", Slices.bucket(confidence, 1.0, true), "the last bucket is closed");
    }

    @Test
    void aSampleHasOneValuePerDefinitionThatAppliesAndRareValuesAreOther() {
        Slices slices = Slices.parse("all, label,predicted,correct,length,confidence,column:source,label", "0-8-16",
                "0.5-0.9-1.0", "4");
        assertEquals(6, slices.definitions().size(), "all is implicit and label is named once");
        slices.keep("label", Set.of("POSITIVE", "NEGATIVE"));
        slices.keep("column:source", Set.of("web", "news", "forum"));
        Map<String, String> v = values(slices.of(classified(1, "POSITIVE", 0.2f, 0.8f), 9, "NEGATIVE",
                c -> c.equals("source") ? "blog" : null));
        assertEquals(Map.of("all", "all", "label", "NEGATIVE", "predicted", "POSITIVE", "correct", "false", "length",
                "8-16", "confidence", "0.5-0.9", "column:source", "other"), v);
        // no label: neither label nor correct; no column value: not in that slice
        Map<String, String> unlabelled = values(slices.of(classified(0, "NEGATIVE", 0.95f, 0.05f), 40, null,
                c -> null));
        assertEquals(Map.of("all", "all", "predicted", "NEGATIVE", "length", "16+", "confidence", "0.9-1.0"),
                unlabelled);
        // a question-answering prediction has no class: predicted, correct and confidence do not apply
        Map<String, String> qa = values(slices.of(new Prediction(null, null, null, null, -1, null, null, null, null),
                3, "x", c -> "web"));
        assertEquals(Map.of("all", "all", "label", "other", "length", "0-8", "column:source", "web"), qa);
        // predicted classes from index max_values - 1 on are other
        assertEquals("other", values(slices.of(classified(3, "D", 0.1f, 0.1f, 0.1f, 0.7f), 3, null, c -> null))
                .get("predicted"));
    }

    @Test
    void badDefinitionsFailNamingTheKey() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Slices.parse("genre", "0-16", "0.5-1.0", "50"))
                .getMessage().startsWith("slices: unknown slice 'genre'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Slices.parse("", "0-16-8", "0.5-1.0", "50"))
                .getMessage().startsWith("slices.length_edges: expected increasing numbers"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Slices.parse("", "0-16", "0.5-0.7-0.9-1.0",
                "4")).getMessage().startsWith("slices.confidence_edges: expected 2 to 3 edges"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Slices.parse("", "0-16", "0.5-1.0", "1"))
                .getMessage().startsWith("slices.max_values: expected an integer ≥ 2"));
        Slices s = Slices.parse("column:genre", "0-16", "0.5-1.0", "3");
        assertThrows(IllegalArgumentException.class, () -> s.keep("column:genre", Set.of("a", "b", "c")));
        assertThrows(IllegalStateException.class, () -> s.of(classified(0, "A", 1f), 1, null, c -> "a"),
                "values must be counted before the run");
    }
}
