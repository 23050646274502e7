package io.attributionatlas.job;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A seeded corpus of any size for the job's scale benchmark (atlas bench-job) and its test, as JSON Lines ({@code id}, {@code text}, {@code label}):
 * rows of 5–60 words drawn from a Zipf distribution (exponent 1) over a vocabulary of the tokenizer's whole words
 * (the frequent ranks) followed by {@value #SYNTHETIC_WORDS} made-up words (the long tail, split into word pieces as
 * real rare words are), and one row in {@value #MALFORMED_EVERY} malformed in one of five ways. Row r depends only
 * on (seed, r).
 */
public final class SyntheticCorpus {

    public static final int SYNTHETIC_WORDS = 40_000;
    public static final int MALFORMED_EVERY = 997;
    public static final int MIN_WORDS = 5;
    public static final int MAX_WORDS = 60;
    private static final String[] SYLLABLES = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "den", "por", "gal",
        "ith", "ber", "can", "dul", "fen", "ho", "jur", "kel", "mon", "nab", "ost", "pel", "quin", "sar", "tum",
        "ul", "vex", "wen", "yor", "zed", "bra"};

    /** The benchmark's tiny model: 2 layers, 2 heads, hidden 32, with the demo model's tokenizer and labels. */
    public static final int TINY_LAYERS = 2;
    public static final int TINY_HEADS = 2;
    public static final int TINY_HIDDEN = 32;
    private static final int TINY_INTERMEDIATE = 64;
    private static final Path DEMO_MODEL = Path.of("src/demo/model/minilm-sst2");

    private final List<String> words;
    private final double[] cumulative;

    private SyntheticCorpus(List<String> words) {
        this.words = words;
        cumulative = new double[words.size()];
        double sum = 0;
        for (int r = 0; r < words.size(); r++) {
            sum += 1.0 / (r + 1);
            cumulative[r] = sum;
        }
    }

    /** The tokenizer's whole lower-case words (in vocabulary order), then the made-up ones. */
    public static SyntheticCorpus forTokenizer(Path tokenizerJson) throws IOException {
        JsonObject vocab = JsonParser.parseString(Files.readString(tokenizerJson)).getAsJsonObject()
                .getAsJsonObject("model").getAsJsonObject("vocab");
        List<String> words = new ArrayList<>();
        vocab.entrySet().stream().sorted(java.util.Map.Entry.comparingByValue(
                java.util.Comparator.comparingInt(com.google.gson.JsonElement::getAsInt)))
                .map(java.util.Map.Entry::getKey).filter(w -> w.length() >= 2 && w.chars().allMatch(c -> c >= 'a'
                        && c <= 'z')).forEach(words::add);
        java.util.Set<String> seen = new java.util.HashSet<>(words);
        int target = words.size() + SYNTHETIC_WORDS;
        for (int i = 0; words.size() < target; i++) {
            String w = madeUp(i);
            if (seen.add(w)) {
                words.add(w);
            }
        }
        return new SyntheticCorpus(words);
    }

    /** Writes the tiny seeded model into {@code dir} (borrowing the bundled demo model's tokenizer); returns it. */
    public static Path tinyModel(Path dir, long seed) throws IOException {
        return io.attributionatlas.model.RandomModels.shaped(DEMO_MODEL, dir, seed, TINY_LAYERS, TINY_HEADS,
                TINY_HIDDEN, TINY_INTERMEDIATE);
    }

    public int vocabularySize() {
        return words.size();
    }

    /** Word i of the made-up tail: its base-32 digits as syllables, at least three. */
    private static String madeUp(int i) {
        StringBuilder b = new StringBuilder();
        int n = i + SYLLABLES.length * SYLLABLES.length;
        while (n > 0) {
            b.append(SYLLABLES[n % SYLLABLES.length]);
            n /= SYLLABLES.length;
        }
        return b.toString();
    }

    /** Writes rows [0, rows) to {@code file}; returns how many are malformed. */
    public long write(Path file, long rows, long seed) throws IOException {
        long malformed = 0;
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (long r = 0; r < rows; r++) {
                SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + r);
                String id = "r" + r;
                String label = random.nextBoolean() ? "POSITIVE" : "NEGATIVE";
                if (r % MALFORMED_EVERY == MALFORMED_EVERY - 1) {
                    malformed++;
                    out.write(switch ((int) (r / MALFORMED_EVERY % 5)) {
                        case 0 -> "{\"id\":\"" + id + "\",\"text\":\"\",\"label\":\"" + label + "\"}";
                        case 1 -> "{\"id\":\"" + id + "\",\"text\":\"   \",\"label\":\"" + label + "\"}";
                        case 2 -> "{\"id\":\"" + id + "\",\"label\":\"" + label + "\"}";
                        case 3 -> "{\"id\":\"" + id + "\",\"text\":\"a broken line";
                        default -> "{\"id\":\"" + id + "\",\"text\":\"" + sentence(random) + "\",\"label\":\"MAYBE\"}";
                    });
                } else {
                    out.write("{\"id\":\"" + id + "\",\"text\":\"" + sentence(random) + "\",\"label\":\"" + label
                            + "\"}");
                }
                out.newLine();
            }
        }
        return malformed;
    }

    private String sentence(SplittableRandom random) {
        int n = MIN_WORDS + random.nextInt(MAX_WORDS - MIN_WORDS + 1);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                b.append(random.nextInt(12) == 0 ? ", " : " ");
            }
            int rank = java.util.Arrays.binarySearch(cumulative, random.nextDouble() * cumulative[cumulative.length - 1]);
            b.append(words.get(Math.min(words.size() - 1, rank >= 0 ? rank : -rank - 1)));
        }
        return b.append(" .").toString();
    }
}
