package io.attributionatlas.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokenizes single texts and text pairs with DJL's Hugging Face tokenizer, from {@code tokenizer.json}
 * or, failing that, from {@code vocab.txt} + {@code tokenizer_config.json} (an equivalent WordPiece
 * tokenizer is generated). Padding settings in the file are overridden (batches are padded by
 * {@link EncodedBatch}); truncation is to {@code maxLength} and flagged on each encoding.
 */
public final class TextTokenizer implements AutoCloseable {

    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String VOCAB_TXT = "vocab.txt";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";

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
            jsonText = WordPieceTokenizerJson.fromVocab(vocab, tokenizerConfig, specialMap);
        } else {
            throw ModelException.inFile(json, "file not found (a model directory needs tokenizer.json, or vocab.txt"
                    + " with tokenizer_config.json)");
        }
        Map<String, Long> vocabulary = vocabularyOf(source, jsonText);
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(jsonText.getBytes(StandardCharsets.UTF_8)), options);
        } catch (IOException | RuntimeException e) {
            throw ModelException.inFile(source, "not a valid Hugging Face tokenizer: " + e.getMessage());
        }
        // Names from the tokenizer's files; else the family's convention, else the other one (a vocab.txt of a
        // RoBERTa-architecture model writes [CLS]).
        EncoderFamily.SpecialTokenNames w = EncoderFamily.SpecialTokenNames.WORD_PIECE;
        EncoderFamily.SpecialTokenNames bpe = EncoderFamily.SpecialTokenNames.BPE;
        SpecialTokens special = new SpecialTokens(
                specialId(vocabulary, tokenizerConfig, specialMap, "cls_token", names.cls(), w.cls(), bpe.cls()),
                specialId(vocabulary, tokenizerConfig, specialMap, "sep_token", names.sep(), w.sep(), bpe.sep()),
                specialId(vocabulary, tokenizerConfig, specialMap, "pad_token", names.pad(), w.pad(), bpe.pad()),
                specialId(vocabulary, tokenizerConfig, specialMap, "mask_token", names.mask(), w.mask(), bpe.mask()),
                specialId(vocabulary, tokenizerConfig, specialMap, "unk_token", names.unk(), w.unk(), bpe.unk()));
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
        return convert(tokenizer.encode(text, true, false));
    }

    public EncodedText encode(String text, String textPair) {
        if (textPair == null) {
            return encode(text);
        }
        return convert(tokenizer.encode(text, textPair, true, false));
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

    private static Map<String, Long> vocabularyOf(Path source, String jsonText) {
        Map<String, Long> vocab = new HashMap<>();
        try {
            JsonObject root = JsonParser.parseString(jsonText).getAsJsonObject();
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

    static JsonObject readJsonOrEmpty(Path file) {
        if (!Files.isRegularFile(file)) {
            return new JsonObject();
        }
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw ModelException.inFile(file, "not a JSON object: " + e.getMessage());
        }
    }

    /** A special token's string from tokenizer_config.json or special_tokens_map.json (string or {content}). */
    static String tokenName(JsonObject tokenizerConfig, JsonObject specialMap, String key, String fallback) {
        for (JsonObject o : List.of(tokenizerConfig, specialMap)) {
            JsonElement e = o.get(key);
            if (e != null && e.isJsonPrimitive()) {
                return e.getAsString();
            }
            if (e != null && e.isJsonObject() && e.getAsJsonObject().has("content")) {
                return e.getAsJsonObject().get("content").getAsString();
            }
        }
        return fallback;
    }

    /** The id of the special token the files name, else of the first fallback in the vocabulary; -1 if none. */
    private static long specialId(Map<String, Long> vocabulary, JsonObject tokenizerConfig, JsonObject specialMap,
            String key, String... fallbacks) {
        String named = tokenName(tokenizerConfig, specialMap, key, null);
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
