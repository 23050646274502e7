package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.cli.Csv;
import io.attributionatlas.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextTokenizerTest {

    @Test
    void overridesFixedPaddingOfTokenizerJson() {
        // The real model's tokenizer.json asks for padding to 128; encodings must not be padded.
        try (TextTokenizer t = TextTokenizer.open(Fixtures.realModel(), 512)) {
            EncodedText e = t.encode("a gorgeous film");
            assertArrayEquals(new String[] {"[CLS]", "a", "gorgeous", "film", "[SEP]"}, e.tokens());
            assertArrayEquals(new boolean[] {true, false, false, false, true}, e.special());
            assertFalse(e.truncated());
            assertEquals(101, t.specialTokens().cls());
            assertEquals(102, t.specialTokens().sep());
            assertEquals(0, t.specialTokens().pad());
            assertEquals(103, t.specialTokens().mask());
            assertEquals(100, t.specialTokens().unk());
        }
    }

    @Test
    void pairsGetTokenTypesSequencesAndWordIndices() {
        try (TextTokenizer t = TextTokenizer.open(Fixtures.realModel(), 512)) {
            EncodedText e = t.encode("Who won?", "Only the team");
            assertArrayEquals(new String[] {"[CLS]", "who", "won", "?", "[SEP]", "only", "the", "team", "[SEP]"},
                    e.tokens());
            assertArrayEquals(new long[] {0, 0, 0, 0, 0, 1, 1, 1, 1}, e.typeIds());
            assertArrayEquals(new int[] {-1, 0, 0, 0, -1, 1, 1, 1, -1}, e.sequence());
            assertArrayEquals(new int[] {-1, 0, 1, 2, -1, 3, 4, 5, -1}, e.words());
            EncodedText pieces = t.encode("unbelievably tokenization");
            // A word split into word pieces keeps one word index for all its pieces.
            int last = pieces.length() - 2;
            assertTrue(pieces.tokens()[last].startsWith("##"), String.join(" ", pieces.tokens()));
            assertEquals(pieces.words()[last - 1], pieces.words()[last]);
        }
    }

    @Test
    void truncatesToMaxLengthAndFlagsIt() {
        try (TextTokenizer t = TextTokenizer.open(Fixtures.realModel(), 16)) {
            EncodedText longText = t.encode("word ".repeat(40));
            assertEquals(16, longText.length());
            assertTrue(longText.truncated());
            assertEquals("[SEP]", longText.tokens()[15]);
            EncodedText pair = t.encode("question ".repeat(10), "context ".repeat(30));
            assertEquals(16, pair.length());
            assertTrue(pair.truncated());
            assertFalse(t.encode("word ".repeat(14)).truncated(), "exactly 16 tokens is not truncated");
        }
    }

    @Test
    void vocabTxtTokenizerEqualsTokenizerJsonOnRealCorpus() throws Exception {
        List<List<String>> rows = Csv.read(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"));
        try (TextTokenizer json = TextTokenizer.open(Fixtures.realModel(), 512);
                TextTokenizer vocab = TextTokenizer.open(Fixtures.shared().resolve("data/bert-base-uncased-tokenizer"),
                        512)) {
            for (List<String> r : rows.subList(1, rows.size())) {
                assertArrayEquals(json.encode(r.get(0)).ids(), vocab.encode(r.get(0)).ids(), r.get(0));
            }
            String q = "Which NFL team represented the AFC at Super Bowl 50?";
            String c = "The American Football Conference (AFC) champion Denver Broncos défeated the NFC's team.";
            EncodedText a = json.encode(q, c);
            EncodedText b = vocab.encode(q, c);
            assertArrayEquals(a.ids(), b.ids());
            assertArrayEquals(a.typeIds(), b.typeIds());
            assertArrayEquals(a.words(), b.words());
        }
    }

    @Test
    void vocabTxtTokenizerEqualsTinyModelsTokenizerJson(@TempDir Path tmp) throws Exception {
        for (String name : List.of("tiny-bert-cls", "tiny-distilbert-qa", "tiny-electra-cls")) {
            Path src = Fixtures.golden(name);
            Path vocabOnly = Files.createDirectories(tmp.resolve(name));
            Files.copy(src.resolve("vocab.txt"), vocabOnly.resolve("vocab.txt"));
            Files.copy(src.resolve("tokenizer_config.json"), vocabOnly.resolve("tokenizer_config.json"));
            try (TextTokenizer json = TextTokenizer.open(src, 64); TextTokenizer vocab = TextTokenizer.open(vocabOnly, 64)) {
                for (String text : List.of("the movie was wonderful", "The ACTING, sadly, was not!", "zzzq unknownword")) {
                    assertArrayEquals(json.encode(text).ids(), vocab.encode(text).ids(), name + ": " + text);
                    assertArrayEquals(json.encode(text, "and the acting").typeIds(),
                            vocab.encode(text, "and the acting").typeIds());
                }
            }
        }
    }

    @Test
    void honoursDoLowerCase(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nHello\n");
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"do_lower_case\": false}");
        try (TextTokenizer cased = TextTokenizer.open(tmp, 32)) {
            assertArrayEquals(new long[] {2, 6, 5, 3}, cased.encode("Hello hello").ids());
        }
        Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"do_lower_case\": true}");
        try (TextTokenizer uncased = TextTokenizer.open(tmp, 32)) {
            assertArrayEquals(new long[] {2, 5, 5, 3}, uncased.encode("Hello hello").ids());
            assertNotEquals(-1, uncased.specialTokens().mask());
        }
    }

    @Test
    void missingTokenizerFilesNameWhatIsNeeded(@TempDir Path tmp) {
        ModelException e = assertThrows(ModelException.class, () -> TextTokenizer.open(tmp, 32));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("vocab.txt"), e.getMessage());
    }

    @Test
    void corruptTokenizerJsonIsReported(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve("tokenizer.json"), "{\"model\": {\"type\": \"Nonsense\"}}");
        ModelException e = assertThrows(ModelException.class, () -> TextTokenizer.open(tmp, 32));
        assertTrue(e.getMessage().startsWith(tmp.resolve("tokenizer.json").toString()), e.getMessage());
    }
}
