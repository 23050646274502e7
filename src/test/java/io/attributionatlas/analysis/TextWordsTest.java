package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.TextTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every tokenizer family's words placed in the text's whitespace words: WordPiece (uncased BERT, MPNet), byte-level
 * BPE (RoBERTa, ModernBERT) and SentencePiece (XLM-R, DeBERTa-v2, ALBERT), on text with contractions, punctuation,
 * accents, a dash outside ASCII and a pair.
 */
class TextWordsTest {

    private static final String TEXT = "Don't stop — it's a café-good, \"witty\" FILM!";
    private static final String PAIR = "Naïve?  Yes: 100%.";
    /** The whitespace word of each tokenizer word must be one of these, in order. */
    private static final String[] WHITESPACE_WORDS = (TEXT + " " + PAIR).split("\\s+");

    static List<Path> tokenizers() {
        Path shared = Fixtures.shared();
        List<Path> dirs = new ArrayList<>(List.of(Fixtures.realModel()));
        for (String family : List.of("roberta-cls", "modernbert-cls", "xlm-roberta-cls", "deberta-v2-cls", "albert-cls",
                "bert-cls")) {
            dirs.add(shared.resolve("golden/hf").resolve(family));
        }
        dirs.add(shared.resolve("golden/hf-next/mpnet-cls"));
        return dirs;
    }

    @Test
    void everyTokenizerWordIsPlacedInOrderAndEveryTextWordGetsOne() {
        assertEquals(WHITESPACE_WORDS.length, TextWords.count(TEXT, PAIR));
        for (Path dir : tokenizers()) {
            try (TextTokenizer tokenizer = TextTokenizer.open(dir, 512)) {
                for (String pair : Arrays.asList(null, PAIR)) {
                    EncodedText e = tokenizer.encode(TEXT, pair);
                    List<Integer> words = Arrays.stream(e.words()).boxed().toList();
                    int[] placed = TextWords.place(TEXT, pair, Arrays.asList(e.tokens()), words);
                    String where = dir.getFileName() + (pair == null ? "" : " (pair)") + ": "
                            + Arrays.toString(e.tokens()) + " → " + Arrays.toString(placed);
                    int textWords = TextWords.count(TEXT, pair);
                    boolean[] covered = new boolean[textWords];
                    String[] surfaces = TextWords.surfaces(Arrays.asList(e.tokens()), words);
                    int last = 0;
                    for (int w = 0; w < placed.length; w++) {
                        if (surfaces[w].isEmpty()) { // a token of spaces only (byte-level BPE's Ġ before a double space)
                            assertEquals(-1, placed[w], where);
                            continue;
                        }
                        assertTrue(placed[w] >= last && placed[w] < textWords, "placed, in order: " + where);
                        last = placed[w];
                        covered[placed[w]] = true;
                    }
                    for (boolean c : covered) {
                        assertTrue(c, "every whitespace word holds a tokenizer word: " + where);
                    }
                }
            }
        }
    }

    @Test
    void surfacesUndoEachTokenizersMarks() {
        assertEquals("café", TextWords.byteLevelDecoded("caf\u00c3\u00a9"), "byte-level UTF-8 decoded");
        assertEquals(" stop", TextWords.byteLevelDecoded("\u0120stop"), "Ġ is a space byte");
        assertEquals("caf\u00e9", TextWords.byteLevelDecoded("caf\u00e9"), "not UTF-8 as bytes: kept (cased WordPiece)");
        assertEquals("cafe", TextWords.key("\u2581Café"));
        assertArrayEquals(new String[] {"dont", "stop"}, TextWords.surfaces(List.of("[CLS]", "don", "##t", "stop",
                "[SEP]"), List.of(-1, 0, 0, 1, -1)));
        assertArrayEquals(new int[] {0, 0, 0, 1, -1}, TextWords.place("Don't stop", null, List.of("don", "'", "t", "stop",
                "go"), List.of(0, 1, 2, 3, 4)), "a word not in the text is left out");
    }
}
