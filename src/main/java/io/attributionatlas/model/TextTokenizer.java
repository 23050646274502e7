package io.attributionatlas.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Base64;
import java.util.BitSet;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokenizes single texts and text pairs with DJL's Hugging Face tokenizer, from {@code tokenizer.json}
 * or, failing that, from {@code vocab.txt} + {@code tokenizer_config.json} (an equivalent WordPiece
 * tokenizer is generated). Padding settings in the file are overridden (batches are padded by
 * {@link EncodedBatch}); truncation is to {@code maxLength} and flagged on each encoding.
 *
 * <p>A giant text is cut before the tokenizer sees it, so its cost follows the model's length rather than the
 * text's (a 10 MB row would otherwise be tokenized whole, millions of tokens, and then truncated): see {@link #cut}.
 */
public final class TextTokenizer implements AutoCloseable {

    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String VOCAB_TXT = "vocab.txt";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";
    /** A text pair's text with a character from the private use area, which no vocabulary has. */
    private static final String ENCODE_PROBE = "a \uE000 1.";

    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Long> vocabulary;
    private final SpecialTokens specialTokens;
    private final int maxLength;

    private TextTokenizer(HuggingFaceTokenizer tokenizer, Map<String, Long> vocabulary, SpecialTokens specialTokens,
            int maxLength) {
        this.tokenizer = tokenizer;
        this.vocabulary = vocabulary;
        this.specialTokens = specialTokens;
        this.maxLength = maxLength;
    }

    /**
     * Opens the tokenizer of a model directory.
     *
     * @param maxLength the most tokens per encoding, special tokens included (the model's max positions)
     */
    public static TextTokenizer open(Path dir, int maxLength) {
        return open(dir, maxLength, EncoderFamily.SpecialTokenNames.WORD_PIECE);
    }

    /**
     * Opens the tokenizer of a model directory, with the family's special-token names where the tokenizer's files
     * do not name them.
     */
    public static TextTokenizer open(Path dir, int maxLength, EncoderFamily.SpecialTokenNames names) {
        OfflineEngine.ensure();
        Path json = dir.resolve(TOKENIZER_JSON);
        Path vocab = dir.resolve(VOCAB_TXT);
        Map<String, String> options = new HashMap<>();
        options.put("padding", "false");
        options.put("truncation", "true");
        options.put("maxLength", Integer.toString(maxLength));
        options.put("addSpecialTokens", "true");
        JsonObject tokenizerConfig = readJsonOrEmpty(dir.resolve(TOKENIZER_CONFIG));
        JsonObject specialMap = readJsonOrEmpty(dir.resolve(SPECIAL_TOKENS_MAP));
        String jsonText;
        Path source;
        if (Files.isRegularFile(json)) {
            source = json;
            try {
                jsonText = Files.readString(json);
            } catch (IOException e) {
                throw ModelException.inFile(json, "cannot read: " + e.getMessage());
            }
        } else if (Files.isRegularFile(vocab)) {
            source = vocab;
            jsonText = WordPieceTokenizerJson.fromVocab(dir, tokenizerConfig, specialMap);
        } else {
            throw ModelException.inFile(json, "file not found (a model directory needs tokenizer.json, or vocab.txt"
                    + " with tokenizer_config.json)");
        }
        JsonElement root;
        try {
            root = JsonParser.parseString(jsonText);
        } catch (RuntimeException e) {
            throw ModelException.inFile(source, "not a valid tokenizer file: " + e.getMessage());
        }
        if (!root.isJsonObject()) { // Gson's own message would quote the whole file
            throw ModelException.inFile(source, "not a valid tokenizer file: not a JSON object");
        }
        Map<String, Long> vocabulary = vocabularyOf(source, root.getAsJsonObject());
        String nativeJson = forNativeLibrary(source, root.getAsJsonObject());
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(nativeJson.getBytes(StandardCharsets.UTF_8)), options);
        } catch (IOException | RuntimeException e) {
            throw ModelException.inFile(source, "not a valid Hugging Face tokenizer: " + e.getMessage());
        }
        try {
            // Some tokenizers load but fail on the first unknown character, e.g. a Unigram model without unk_id.
            tokenizer.encode(ENCODE_PROBE, ENCODE_PROBE, true, false);
        } catch (RuntimeException e) {
            tokenizer.close();
            throw ModelException.inFile(source, "cannot encode text: " + e.getMessage());
        }
        // Names from the tokenizer's files; else the family's convention, else the other one (a vocab.txt of a
        // RoBERTa-architecture model writes [CLS]).
        EncoderFamily.SpecialTokenNames w = EncoderFamily.SpecialTokenNames.WORD_PIECE;
        EncoderFamily.SpecialTokenNames bpe = EncoderFamily.SpecialTokenNames.BPE;
        SpecialTokens special = new SpecialTokens(
                specialId(dir, vocabulary, tokenizerConfig, specialMap, "cls_token", names.cls(), w.cls(), bpe.cls()),
                specialId(dir, vocabulary, tokenizerConfig, specialMap, "sep_token", names.sep(), w.sep(), bpe.sep()),
                specialId(dir, vocabulary, tokenizerConfig, specialMap, "pad_token", names.pad(), w.pad(), bpe.pad()),
                specialId(dir, vocabulary, tokenizerConfig, specialMap, "mask_token", names.mask(), w.mask(),
                        bpe.mask()),
                specialId(dir, vocabulary, tokenizerConfig, specialMap, "unk_token", names.unk(), w.unk(), bpe.unk()));
        return new TextTokenizer(tokenizer, vocabulary, special, maxLength);
    }

    public SpecialTokens specialTokens() {
        return specialTokens;
    }

    public int maxLength() {
        return maxLength;
    }

    public int vocabularySize() {
        return vocabulary.size();
    }

    /** Id of a token string, or -1. */
    public long idOf(String token) {
        return vocabulary.getOrDefault(token, -1L);
    }

    public EncodedText encode(String text) {
        return read(text, null).encoding();
    }

    public EncodedText encode(String text, String textPair) {
        return read(text, textPair).encoding();
    }

    /** An input as the tokenizer read it: each text as {@link #cut} left it, and the encoding. */
    public record Read(String text, String textPair, EncodedText encoding) {
    }

    /** Tokenizes a text or a pair ({@code textPair} null for a single text), cutting giant texts first. */
    public Read read(String text, String textPair) {
        if (textPair == null) {
            Cut cut = cut(text);
            return new Read(cut.text(), null, convert(cut.isWhole() ? tokenizer.encode(text, true, false)
                    : cut.encoding()));
        }
        Cut first = cut(text);
        Cut second = cut(textPair);
        while (true) {
            EncodedText e = convert(tokenizer.encode(first.text(), second.text(), true, false));
            if (first.isWhole() == second.isWhole()) {
                return new Read(first.text(), second.text(), e);
            }
            // Longest-first truncation splits an odd budget with the one extra token to the longer text (the second on
            // a tie): where the cut text lost it to the whole one, its whole text may still be the longer, so grow it.
            int[] kept = new int[2];
            for (int sequence : e.sequence()) {
                if (sequence >= 0) {
                    kept[sequence]++;
                }
            }
            if (!first.isWhole() && kept[1] == kept[0] + 1) {
                first = cut(text, (long) first.text().length() * CUT_GROWTH);
            } else if (!second.isWhole() && kept[0] == kept[1] + 1) {
                second = cut(textPair, (long) second.text().length() * CUT_GROWTH);
            } else {
                return new Read(first.text(), second.text(), e);
            }
        }
    }

    /** The whole text tokenized, with no cut: the reference the cut is tested against. */
    EncodedText encodeWhole(String text, String textPair) {
        return convert(textPair == null ? tokenizer.encode(text, true, false)
                : tokenizer.encode(text, textPair, true, false));
    }

    /**
     * Characters per token of the maximum length below which a text is tokenized whole (16: about four times
     * English's characters per token, so a cut is rarely tried twice).
     */
    static final int CUT_CHARS_PER_TOKEN = 16;
    /** How much the cut's length grows when its prefix still fits the maximum length. */
    private static final int CUT_GROWTH = 4;

    /** A text, or the prefix of it that the tokenizer saw, with that prefix's encoding when it was cut. */
    record Cut(String text, Encoding encoding) {
        boolean isWhole() {
            return encoding == null;
        }
    }

    /**
     * The text, or its shortest prefix that still overflows the maximum length on its own: the prefix ends before a
     * space that follows a non-space (no tokenizer's pre-tokenizer joins characters across it, so the prefix's tokens
     * are the whole text's first tokens); it is tried at {@link #CUT_CHARS_PER_TOKEN} characters per token of the
     * maximum length and, while its own encoding still fits, {@link #CUT_GROWTH} times longer. A text that fits is
     * thus tokenized whole and a longer one keeps exactly the tokens truncation would keep, still flagged truncated.
     * A pair's texts are cut each on its own, exactly as above when one of them is cut; when both are, the one extra
     * token of an odd budget goes to the longer cut text (longest-first truncation gives it to the longer whole text).
     */
    Cut cut(String text) {
        return cut(text, (long) maxLength * CUT_CHARS_PER_TOKEN);
    }

    private Cut cut(String text, long firstBound) {
        long bound = firstBound;
        while (bound < text.length()) {
            int end = cutPoint(text, (int) bound);
            if (end < 0) {
                break;
            }
            String prefix = text.substring(0, end);
            Encoding encoding = tokenizer.encode(prefix, true, false);
            if (encoding.exceedMaxLength()) {
                return new Cut(prefix, encoding);
            }
            bound = (long) end * CUT_GROWTH;
        }
        return new Cut(text, null);
    }

    /**
     * Characters a reader keeps of a text, per token of the maximum length, before the tokenizer sees it: the cut's
     * first bound grown twice ({@code 16 × 4 × 4 = 256}), so that only a text whose first characters average more
     * than 256 characters a token (giant words, runs of spaces) reaches the tokenizer without the tokens it would
     * have had.
     */
    public static long readerChars(int maxLength) {
        return (long) maxLength * CUT_CHARS_PER_TOKEN * CUT_GROWTH * CUT_GROWTH;
    }

    /**
     * The text up to the first space at or after {@code chars} that follows a non-space (where {@link #cut} cuts),
     * or the whole text: what a reader keeps of a giant row, so the rest is not carried through the job.
     */
    public static String cutAtSpace(String text, long chars) {
        if (text == null || text.length() <= chars) {
            return text;
        }
        int end = cutPoint(text, (int) chars);
        return end < 0 ? text : text.substring(0, end);
    }

    /** The first index at or after {@code from} of a space that follows a non-space, or -1. */
    private static int cutPoint(String text, int from) {
        for (int i = Math.max(from, 1); i < text.length(); i++) {
            if (text.charAt(i) == ' ' && !Character.isWhitespace(text.charAt(i - 1))
                    && !Character.isSpaceChar(text.charAt(i - 1))) {
                return i;
            }
        }
        return -1;
    }

    /** Decodes ids to text, skipping special tokens (used for QA answer spans). */
    public String decode(long[] ids) {
        return tokenizer.decode(ids, true);
    }

    private EncodedText convert(Encoding e) {
        long[] ids = e.getIds();
        long[] specialMask = e.getSpecialTokenMask();
        long[] sequenceIds = e.getSequenceIds();
        long[] wordIds = e.getWordIds();
        int n = ids.length;
        boolean[] special = new boolean[n];
        int[] sequence = new int[n];
        int[] words = new int[n];
        int firstTextWords = 0;
        for (int i = 0; i < n; i++) {
            special[i] = specialMask[i] != 0;
            sequence[i] = special[i] ? -1 : (int) sequenceIds[i];
            if (!special[i] && sequence[i] == 0) {
                firstTextWords = Math.max(firstTextWords, (int) wordIds[i] + 1);
            }
        }
        for (int i = 0; i < n; i++) {
            words[i] = special[i] ? -1 : (int) wordIds[i] + (sequence[i] == 1 ? firstTextWords : 0);
        }
        return new EncodedText(ids, e.getTypeIds(), e.getTokens(), special, sequence, words, e.exceedMaxLength());
    }

    private static Map<String, Long> vocabularyOf(Path source, JsonObject root) {
        Map<String, Long> vocab = new HashMap<>();
        try {
            JsonElement model = root.get("model");
            if (model != null && model.isJsonObject() && model.getAsJsonObject().get("vocab") != null
                    && model.getAsJsonObject().get("vocab").isJsonObject()) {
                model.getAsJsonObject().getAsJsonObject("vocab").entrySet()
                        .forEach(t -> vocab.put(t.getKey(), t.getValue().getAsLong()));
            }
            if (root.has("added_tokens") && root.get("added_tokens").isJsonArray()) {
                for (JsonElement t : root.getAsJsonArray("added_tokens")) {
                    vocab.put(t.getAsJsonObject().get("content").getAsString(),
                            t.getAsJsonObject().get("id").getAsLong());
                }
            }
        } catch (RuntimeException e) {
            throw ModelException.inFile(source, "not a valid tokenizer file: " + e.getMessage());
        }
        return vocab;
    }

    /** Deepest nesting handed to the native library: serde_json stops at 128, and inside a decoder that panics. */
    private static final int MAX_NATIVE_DEPTH = 100;

    /**
     * The longest Unigram piece handed to the native library: its trie has a node per byte, which Rust drops
     * recursively, so about 10 kB of piece overflow a 1 MiB thread stack (SIGSEGV). SentencePiece's pieces have at
     * most 16 characters.
     */
    private static final int MAX_UNIGRAM_PIECE_BYTES = 1024;
    /** The deepest group nesting of a regex handed over: Oniguruma parses groups recursively (3000 overflow 1 MiB). */
    private static final int MAX_REGEX_NESTING = 100;

    /**
     * The tokenizer JSON as the native tokenizers library gets it: rewritten as strict JSON (no NaN, comments or
     * unquoted strings), refusing what would crash the JVM instead of failing with an error. A Rust panic cannot
     * cross JNI: it aborts the whole JVM. tokenizers 0.21 panics on a decoder it cannot parse as JSON (numbers past
     * a double, nesting past 128; decoders/mod.rs "Helper") and on a SentencePiece charsmap it cannot parse
     * (normalizers/mod.rs "Precompiled"), and spm_precompiled indexes the charsmap's trie and strings unchecked
     * when it encodes. Recursion as deep as the input overflows the thread's stack: a Unigram piece's trie, a regex's
     * nested groups.
     */
    private static String forNativeLibrary(Path source, JsonObject root) {
        refuseWhatPanics(source, root, 0);
        return root.toString();
    }

    private static void refuseWhatPanics(Path source, JsonElement e, int depth) {
        if (depth > MAX_NATIVE_DEPTH) {
            throw ModelException.inFile(source, "JSON nested deeper than " + MAX_NATIVE_DEPTH + " levels");
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber() && !Double.isFinite(e.getAsDouble())) {
            throw ModelException.inFile(source, "number " + e + " is out of range");
        }
        if (e.isJsonArray()) {
            for (JsonElement child : e.getAsJsonArray()) {
                refuseWhatPanics(source, child, depth + 1);
            }
        }
        if (e.isJsonObject()) {
            JsonObject o = e.getAsJsonObject();
            if (new JsonPrimitive("Precompiled").equals(o.get("type"))) {
                checkPrecompiledCharsmap(source, o.get("precompiled_charsmap"));
            }
            if (new JsonPrimitive("Unigram").equals(o.get("type")) && o.get("vocab") instanceof JsonArray pieces) {
                for (JsonElement piece : pieces) {
                    if (piece instanceof JsonArray p && !p.isEmpty() && p.get(0).isJsonPrimitive()
                            && longerThanMaxPiece(p.get(0).getAsString())) {
                        throw ModelException.atKey(source, "vocab", "a Unigram piece of more than "
                                + MAX_UNIGRAM_PIECE_BYTES + " bytes");
                    }
                }
            }
            if (o.get("Regex") instanceof JsonPrimitive regex
                    && groupNesting(regex.getAsString()) > MAX_REGEX_NESTING) {
                throw ModelException.atKey(source, "Regex", "groups nested deeper than " + MAX_REGEX_NESTING);
            }
            for (JsonElement child : o.asMap().values()) {
                refuseWhatPanics(source, child, depth + 1);
            }
        }
    }

    /** Whether the piece's UTF-8 form exceeds MAX_UNIGRAM_PIECE_BYTES (encoded only where it might: 3 bytes a char). */
    private static boolean longerThanMaxPiece(String piece) {
        return piece.length() * 3 > MAX_UNIGRAM_PIECE_BYTES
                && piece.getBytes(StandardCharsets.UTF_8).length > MAX_UNIGRAM_PIECE_BYTES;
    }

    /** The deepest nesting of (groups) and [classes] in a regex, counting any unescaped bracket. */
    private static int groupNesting(String regex) {
        int depth = 0;
        int deepest = 0;
        for (int i = 0; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == '(' || c == '[') {
                deepest = Math.max(deepest, ++depth);
            } else if (c == ')' || c == ']') {
                depth--;
            }
        }
        return deepest;
    }

    /** Larger than any SentencePiece charsmap (under 1 MiB); bounds the trie walk below to about a second. */
    private static final int MAX_CHARSMAP_BYTES = 16 << 20;

    /**
     * A SentencePiece charsmap as spm_precompiled reads it: base64 of [u32 trie bytes][u32 trie units][UTF-8
     * replacement strings, each ended by NUL]. Its searches walk the trie from unit 0: at node n, byte c leads to
     * unit n ^ c, which goes on to n ^ c ^ offset if its label is c, and has a leaf value there (an index into the
     * strings) if it says so. Every unit a search can reach must exist and every value must start a string.
     */
    private static void checkPrecompiledCharsmap(Path source, JsonElement charsmap) {
        byte[] map;
        try {
            String base64 = charsmap.getAsJsonPrimitive().getAsString();
            map = Base64.getDecoder().decode(base64);
            if (!Base64.getEncoder().encodeToString(map).equals(base64)) { // the Rust decoder wants it canonical
                throw new IllegalArgumentException("not canonical base64");
            }
        } catch (RuntimeException e) {
            throw ModelException.atKey(source, "precompiled_charsmap", "expected a base64 string, got " + charsmap);
        }
        ByteBuffer buffer = ByteBuffer.wrap(map).order(ByteOrder.LITTLE_ENDIAN);
        long trieBytes = map.length < 4 ? -1 : Integer.toUnsignedLong(buffer.getInt(0));
        if (map.length > MAX_CHARSMAP_BYTES || trieBytes < 4 || 4 + trieBytes / 4 * 4 > map.length) {
            throw ModelException.atKey(source, "precompiled_charsmap", map.length + " bytes for a trie of "
                    + trieBytes + " bytes (expected at least one trie unit, and at most " + MAX_CHARSMAP_BYTES
                    + " bytes in all)");
        }
        int[] units = new int[(int) (trieBytes / 4)];
        buffer.position(4).asIntBuffer().get(units);
        byte[] strings = Arrays.copyOfRange(map, 4 + 4 * units.length, map.length);
        try {
            StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(strings));
        } catch (CharacterCodingException e) {
            throw ModelException.atKey(source, "precompiled_charsmap", "replacement strings are not UTF-8");
        }
        BitSet seen = new BitSet(units.length);
        Deque<Long> nodes = new ArrayDeque<>(List.of(trieOffset(Integer.toUnsignedLong(units[0]))));
        while (!nodes.isEmpty()) {
            long node = nodes.pop();
            if ((node | 0xFF) >= units.length) { // node ^ c for every byte c
                throw ModelException.atKey(source, "precompiled_charsmap", "trie node " + node + " out of range");
            }
            for (int c = 1; c < 256; c++) {
                long unit = Integer.toUnsignedLong(units[(int) (node ^ c)]);
                if ((unit & 0x800000FFL) != c) {
                    continue;
                }
                long next = node ^ c ^ trieOffset(unit);
                if (next >= units.length) {
                    throw ModelException.atKey(source, "precompiled_charsmap", "trie node " + next + " out of range");
                }
                long value = units[(int) next] & 0x7FFFFFFFL;
                boolean startsString = value == strings.length
                        || value < strings.length && (strings[(int) value] & 0xC0) != 0x80;
                if (((unit >> 8) & 1) == 1 && !startsString) {
                    throw ModelException.atKey(source, "precompiled_charsmap", "trie value " + value
                            + " does not start a replacement string");
                }
                if (!seen.get((int) next)) {
                    seen.set((int) next);
                    nodes.push(next);
                }
            }
        }
    }

    /** spm_precompiled's ArrayUnit::offset. */
    private static long trieOffset(long unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >> 6);
    }

    static JsonObject readJsonOrEmpty(Path file) {
        if (!Files.isRegularFile(file)) {
            return new JsonObject();
        }
        JsonElement json;
        try {
            json = JsonParser.parseString(Files.readString(file));
        } catch (IOException | RuntimeException e) {
            throw ModelException.inFile(file, "not a JSON object: " + e.getMessage());
        }
        if (!json.isJsonObject()) { // Gson's own message would quote the whole file
            throw ModelException.inFile(file, "not a JSON object");
        }
        return json.getAsJsonObject();
    }

    /**
     * A special token's string from {@code dir}'s tokenizer_config.json or special_tokens_map.json (string or
     * {content}).
     */
    static String tokenName(Path dir, JsonObject tokenizerConfig, JsonObject specialMap, String key, String fallback) {
        for (Map.Entry<String, JsonObject> file : List.of(Map.entry(TOKENIZER_CONFIG, tokenizerConfig),
                Map.entry(SPECIAL_TOKENS_MAP, specialMap))) {
            JsonElement e = file.getValue().get(key);
            if (e != null && e.isJsonPrimitive()) {
                return e.getAsString();
            }
            if (e != null && e.isJsonObject() && e.getAsJsonObject().has("content")) {
                JsonElement content = e.getAsJsonObject().get("content");
                if (!content.isJsonPrimitive()) {
                    throw ModelException.atKey(dir.resolve(file.getKey()), key, "expected the token as a string or "
                            + "{\"content\": string}, got " + e);
                }
                return content.getAsString();
            }
        }
        return fallback;
    }

    /** The id of the special token the files name, else of the first fallback in the vocabulary; -1 if none. */
    private static long specialId(Path dir, Map<String, Long> vocabulary, JsonObject tokenizerConfig,
            JsonObject specialMap, String key, String... fallbacks) {
        String named = tokenName(dir, tokenizerConfig, specialMap, key, null);
        if (named != null) {
            return vocabulary.getOrDefault(named, -1L);
        }
        for (String name : fallbacks) {
            if (vocabulary.containsKey(name)) {
                return vocabulary.get(name);
            }
        }
        return -1L;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
