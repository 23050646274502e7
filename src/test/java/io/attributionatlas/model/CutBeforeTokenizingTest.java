package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * A text is cut before tokenizing ({@link TextTokenizer#cut}) and the encoding is still the one the whole text gets:
 * on the tokenizer of every family (WordPiece from tokenizer.json and from vocab.txt, byte-level BPE, SentencePiece
 * Unigram), for generated texts of every length around the cut, with the odd words a corpus holds (punctuation runs,
 * CJK, emoji, combining marks, special-token strings, runs of spaces, tabs, no-break spaces).
 */
class CutBeforeTokenizingTest {

    /** Small maximum lengths so that the cut (16 characters a token) is reached by cheap texts. */
    private static final int[] MAX_LENGTHS = {6, 9, 16, 33};
    private static List<TextTokenizer> tokenizers;

    @BeforeContainer
    static void open() {
        List<Path> dirs = List.of(Fixtures.realModel(), Fixtures.shared().resolve("data/bert-base-uncased-tokenizer"),
                Fixtures.golden("hf/bert-cls"), Fixtures.golden("hf/roberta-cls"), Fixtures.golden("hf/xlm-roberta-cls"),
                Fixtures.golden("hf/deberta-v2-cls"), Fixtures.golden("hf/albert-cls"),
                Fixtures.golden("hf/modernbert-cls"), Fixtures.golden("hf-next/mpnet-cls"));
        tokenizers = new java.util.ArrayList<>();
        for (Path dir : dirs) {
            for (int maxLength : MAX_LENGTHS) {
                tokenizers.add(TextTokenizer.open(dir, maxLength));
            }
        }
    }

    @AfterContainer
    static void close() {
        tokenizers.forEach(TextTokenizer::close);
    }

    @Property
    void aCutTextEncodesAsTheWholeText(@ForAll("tokenizerIndex") int which, @ForAll("texts") String text) {
        TextTokenizer t = tokenizers.get(which);
        Statistics.label("text").collect(t.cut(text).isWhole() ? "whole" : "cut");
        assertSame(t.encodeWhole(text, null), t.encode(text), text);
    }

    /** Pairs where at most one text is beyond the cut: the case a question and a long context make. */
    @Property
    void aPairWithOneCutTextEncodesAsTheWholePair(@ForAll("tokenizerIndex") int which,
            @ForAll("pairs") Tuple.Tuple2<String, String> pair) {
        TextTokenizer t = tokenizers.get(which);
        String first = pair.get1();
        String second = pair.get2();
        Statistics.label("pair").collect(t.cut(second).isWhole() ? "whole" : "one text cut");
        assertSame(t.encodeWhole(first, second), t.encode(first, second), first + " | " + second);
        assertSame(t.encodeWhole(second, first), t.encode(second, first), second + " | " + first);
    }

    @Example
    void aGiantRowCostsWhatTheModelLengthCosts() {
        // 2 million words: tokenized whole, seconds and gigabytes; cut, a prefix of 8,192 characters
        try (TextTokenizer t = TextTokenizer.open(Fixtures.realModel(), 512)) {
            String giant = "the film is a gorgeous mess of ideas and ".repeat(250_000);
            long start = System.nanoTime();
            EncodedText e = t.encode(giant);
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(512, e.length());
            assertTrue(e.truncated());
            int cut = t.cut(giant).text().length();
            assertTrue(cut >= 8192 && cut < 8192 + 64, "cut at " + cut + ", the first space after 16 × 512");
            assertTrue(seconds < 5, "cut tokenizing took " + seconds + " s");
            assertSame(t.encodeWhole(giant.substring(0, 100_000), null), e, "giant");
        }
    }

    @Example
    void aTextWithoutSpacesIsTokenizedWhole() {
        try (TextTokenizer t = TextTokenizer.open(Fixtures.realModel(), 6)) {
            String noSpaces = "ab,".repeat(200);
            assertEquals(noSpaces, t.cut(noSpaces).text());
            assertSame(t.encodeWhole(noSpaces, null), t.encode(noSpaces), noSpaces);
        }
    }

    private static void assertSame(EncodedText expected, EncodedText actual, String text) {
        String where = text.length() > 200 ? text.substring(0, 200) + "…" : text;
        assertArrayEquals(expected.tokens(), actual.tokens(), where);
        assertArrayEquals(expected.ids(), actual.ids(), where);
        assertArrayEquals(expected.typeIds(), actual.typeIds(), where);
        assertArrayEquals(expected.special(), actual.special(), where);
        assertArrayEquals(expected.sequence(), actual.sequence(), where);
        assertArrayEquals(expected.words(), actual.words(), where);
        assertEquals(expected.truncated(), actual.truncated(), where);
    }

    @Provide
    Arbitrary<Integer> tokenizerIndex() {
        return Arbitraries.integers().between(0, tokenizers.size() - 1);
    }

    /** Words and separators that tokenizers treat differently; up to about 4 times the largest cut bound. */
    @Provide
    Arbitrary<String> texts() {
        return textsOf(400);
    }

    private static Arbitrary<String> textsOf(int maxPieces) {
        Arbitrary<String> word = Arbitraries.oneOf(
                Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(12),
                Arbitraries.strings().withCharRange('A', 'Z').ofMinLength(1).ofMaxLength(3),
                Arbitraries.strings().numeric().ofMinLength(1).ofMaxLength(6),
                Arbitraries.strings().withChars(".,!?;:'\"()-…«»").ofMinLength(1).ofMaxLength(4),
                Arbitraries.strings().withCharRange('\u4e00', '\u4e40').ofMinLength(1).ofMaxLength(4),
                Arbitraries.of("café", "naïve", "e\u0301t\u0301e\u0301", "\uD83D\uDE00", "\uD83D\uDC4D\uD83C\uDFFD",
                        "[SEP]", "[CLS]", "[UNK]", "<mask>", "</s>", "<s>", "[MASK]", "don't", "U.S.", "--",
                        "\u200B", "\uFFFD", "ß", "İ", "ﬁ"),
                Arbitraries.strings().withCharRange('a', 'b').ofMinLength(101).ofMaxLength(140));
        Arbitrary<String> separator = Arbitraries.of(" ", " ", " ", " ", "  ", "\t", "\n", " \n ", "\u00A0", "\u3000",
                " \u0301", "");
        Arbitrary<String> piece = Combinators.combine(word, separator).as((w, s) -> w + s);
        return piece.list().ofMinSize(1).ofMaxSize(maxPieces).map(pieces -> String.join("", pieces));
    }

    @Provide
    Arbitrary<Tuple.Tuple2<String, String>> pairs() {
        // the short text stays below the smallest cut bound (6 × 16 characters); the other may be any length
        Arbitrary<String> shortText = textsOf(10).filter(s -> s.length() < MAX_LENGTHS[0] * TextTokenizer.CUT_CHARS_PER_TOKEN);
        return Combinators.combine(shortText, texts()).as(Tuple::of);
    }
}
