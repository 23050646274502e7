package io.attributionatlas.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the tokenizer.json that Hugging Face's {@code BertTokenizerFast} would convert a
 * {@code vocab.txt} into: BertNormalizer (honouring {@code do_lower_case}, {@code strip_accents},
 * {@code tokenize_chinese_chars}), BertPreTokenizer, WordPiece, and the [CLS] … [SEP] … [SEP] template.
 */
final class WordPieceTokenizerJson {

    private WordPieceTokenizerJson() {
    }

    static String fromVocab(Path dir, JsonObject tokenizerConfig, JsonObject specialMap) {
        Path vocabFile = dir.resolve(TextTokenizer.VOCAB_TXT);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(vocabFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw ModelException.inFile(vocabFile, "cannot read: " + e.getMessage());
        }
        // As transformers' load_vocab: one token per line, the line number is the id, a repeated token keeps the last.
        for (int i = 0; i < lines.size(); i++) {
            vocab.put(lines.get(i), i);
        }
        String cls = TextTokenizer.tokenName(dir, tokenizerConfig, specialMap, "cls_token", "[CLS]");
        String sep = TextTokenizer.tokenName(dir, tokenizerConfig, specialMap, "sep_token", "[SEP]");
        String unk = TextTokenizer.tokenName(dir, tokenizerConfig, specialMap, "unk_token", "[UNK]");
        for (String required : List.of(cls, sep, unk)) {
            if (!vocab.containsKey(required)) {
                throw ModelException.inFile(vocabFile, "special token " + required + " is not in the vocabulary");
            }
        }
        boolean lowercase = !Boolean.FALSE.equals(flag(dir, tokenizerConfig, "do_lower_case"));

        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", JsonNull.INSTANCE);
        root.add("padding", JsonNull.INSTANCE);
        JsonArray added = new JsonArray();
        for (String key : List.of("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")) {
            String name = TextTokenizer.tokenName(dir, tokenizerConfig, specialMap, key, null);
            String token = name != null ? name : switch (key) {
                case "pad_token" -> "[PAD]";
                case "mask_token" -> "[MASK]";
                default -> null;
            };
            if (token != null && vocab.containsKey(token)) {
                JsonObject t = new JsonObject();
                t.addProperty("id", vocab.get(token));
                t.addProperty("content", token);
                t.addProperty("single_word", false);
                t.addProperty("lstrip", false);
                t.addProperty("rstrip", false);
                t.addProperty("normalized", false);
                t.addProperty("special", true);
                added.add(t);
            }
        }
        root.add("added_tokens", added);

        JsonObject normalizer = new JsonObject();
        normalizer.addProperty("type", "BertNormalizer");
        normalizer.addProperty("clean_text", true);
        normalizer.addProperty("handle_chinese_chars",
                !Boolean.FALSE.equals(flag(dir, tokenizerConfig, "tokenize_chinese_chars")));
        Boolean strip = flag(dir, tokenizerConfig, "strip_accents");
        normalizer.add("strip_accents", strip == null ? JsonNull.INSTANCE : new JsonPrimitive(strip));
        normalizer.addProperty("lowercase", lowercase);
        root.add("normalizer", normalizer);

        JsonObject preTokenizer = new JsonObject();
        preTokenizer.addProperty("type", "BertPreTokenizer");
        root.add("pre_tokenizer", preTokenizer);

        JsonObject post = new JsonObject();
        post.addProperty("type", "TemplateProcessing");
        post.add("single", template(cls, sep, false));
        post.add("pair", template(cls, sep, true));
        JsonObject specials = new JsonObject();
        specials.add(cls, specialEntry(cls, vocab.get(cls)));
        specials.add(sep, specialEntry(sep, vocab.get(sep)));
        post.add("special_tokens", specials);
        root.add("post_processor", post);

        JsonObject decoder = new JsonObject();
        decoder.addProperty("type", "WordPiece");
        decoder.addProperty("prefix", "##");
        decoder.addProperty("cleanup", true);
        root.add("decoder", decoder);

        JsonObject model = new JsonObject();
        model.addProperty("type", "WordPiece");
        model.addProperty("unk_token", unk);
        model.addProperty("continuing_subword_prefix", "##");
        model.addProperty("max_input_chars_per_word", 100);
        JsonObject vocabJson = new JsonObject();
        vocab.forEach(vocabJson::addProperty);
        model.add("vocab", vocabJson);
        root.add("model", model);
        return root.toString();
    }

    /** A true/false setting of tokenizer_config.json; null where it is absent or null. */
    private static Boolean flag(Path dir, JsonObject tokenizerConfig, String key) {
        JsonElement e = tokenizerConfig.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw ModelException.atKey(dir.resolve(TextTokenizer.TOKENIZER_CONFIG), key, "expected true or false, got "
                    + e);
        }
        return e.getAsBoolean();
    }

    private static JsonArray template(String cls, String sep, boolean pair) {
        JsonArray t = new JsonArray();
        t.add(piece("SpecialToken", cls, 0));
        t.add(piece("Sequence", "A", 0));
        t.add(piece("SpecialToken", sep, 0));
        if (pair) {
            t.add(piece("Sequence", "B", 1));
            t.add(piece("SpecialToken", sep, 1));
        }
        return t;
    }

    private static JsonObject piece(String kind, String id, int typeId) {
        JsonObject inner = new JsonObject();
        inner.addProperty("id", id);
        inner.addProperty("type_id", typeId);
        JsonObject o = new JsonObject();
        o.add(kind, inner);
        return o;
    }

    private static JsonObject specialEntry(String token, int id) {
        JsonObject o = new JsonObject();
        o.addProperty("id", token);
        JsonArray ids = new JsonArray();
        ids.add(id);
        o.add("ids", ids);
        JsonArray tokens = new JsonArray();
        tokens.add(token);
        o.add("tokens", tokens);
        return o;
    }
}
