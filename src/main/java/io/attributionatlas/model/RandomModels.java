package io.attributionatlas.model;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Models of a shape no fixture has, with seeded random weights, for benchmarks: costs depend on the shape, not on
 * the weights' values. Written as a Hugging Face directory (config.json, F32 safetensors, the tokenizer of a real
 * model) that {@link Predictor#open} reads like any other.
 */
public final class RandomModels {

    /** BERT-base: 12 layers, 12 heads, hidden 768, intermediate 3072. */
    public static final int BERT_BASE_LAYERS = 12;
    public static final int BERT_BASE_HEADS = 12;
    public static final int BERT_BASE_HIDDEN = 768;
    public static final int BERT_BASE_INTERMEDIATE = 3072;

    /** BERT's initialiser: weights ~ N(0, 0.02²); LayerNorm γ = 1, β = 0. */
    private static final double INITIALIZER_RANGE = 0.02;

    private RandomModels() {
    }

    /**
     * Writes into {@code dir} a BERT-base-shaped model with {@code like}'s task, labels, vocabulary and tokenizer
     * ({@code like} is a BERT model directory) and weights drawn from {@code seed}; returns {@code dir}.
     */
    public static Path bertBaseShape(Path like, Path dir, long seed) throws IOException {
        return shaped(like, dir, seed, BERT_BASE_LAYERS, BERT_BASE_HEADS, BERT_BASE_HIDDEN, BERT_BASE_INTERMEDIATE);
    }

    /**
     * Writes into {@code dir} a BERT model of the given shape with {@code like}'s task, labels, vocabulary and
     * tokenizer ({@code like} is a BERT model directory) and weights drawn from {@code seed}; returns {@code dir}.
     */
    public static Path shaped(Path like, Path dir, long seed, int layers, int heads, int hidden, int intermediate)
            throws IOException {
        Path configFile = like.resolve("config.json");
        JsonObject config = JsonParser.parseString(Files.readString(configFile)).getAsJsonObject();
        if (!"bert".equals(config.has("model_type") ? config.get("model_type").getAsString() : null)) {
            throw ModelException.atKey(configFile, "model_type", "a random model borrows the tokenizer of a BERT "
                    + "model; this one is not");
        }
        config.addProperty("hidden_size", hidden);
        config.addProperty("num_hidden_layers", layers);
        config.addProperty("num_attention_heads", heads);
        config.addProperty("intermediate_size", intermediate);
        config.remove("torch_dtype");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config.toString());
        for (String file : List.of("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")) {
            if (Files.exists(like.resolve(file))) {
                Files.copy(like.resolve(file), dir.resolve(file), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        ModelConfig shape = ModelConfig.parse(dir.resolve("config.json"), config, null);
        writeWeights(dir.resolve("model.safetensors"), new ParameterLayout(shape), new SplittableRandom(seed));
        return dir;
    }

    /** Every parameter of the layout as F32, under the names Hugging Face saves. */
    private static void writeWeights(Path file, ParameterLayout layout, SplittableRandom random) throws IOException {
        List<ParameterLayout.Spec> specs = layout.all();
        String prefix = layout.config().family().basePrefix();
        JsonObject header = new JsonObject();
        long offset = 0;
        for (ParameterLayout.Spec p : specs) {
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", "F32");
            com.google.gson.JsonArray shape = new com.google.gson.JsonArray();
            for (long d : p.shape()) {
                shape.add(d);
            }
            entry.add("shape", shape);
            long bytes = 4 * elements(p);
            com.google.gson.JsonArray offsets = new com.google.gson.JsonArray();
            offsets.add(offset);
            offsets.add(offset + bytes);
            entry.add("data_offsets", offsets);
            header.add(p.base() ? prefix + p.name() : p.name(), entry);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the data starts 8-aligned; the format pads the header with spaces
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            write(out, head);
            ByteBuffer block = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (ParameterLayout.Spec p : specs) {
                String name = p.name().toLowerCase(java.util.Locale.ROOT);
                boolean norm = name.contains("layernorm.") || name.contains("layer_norm.");
                boolean gamma = norm && name.endsWith(".weight");
                boolean beta = norm && name.endsWith(".bias");
                for (long i = elements(p); i > 0; i--) {
                    block.putFloat(gamma ? 1f : beta ? 0f : (float) (INITIALIZER_RANGE * random.nextGaussian()));
                    if (!block.hasRemaining()) {
                        block.flip();
                        write(out, block);
                        block.clear();
                    }
                }
            }
            block.flip();
            write(out, block);
        }
    }

    private static long elements(ParameterLayout.Spec p) {
        long n = 1;
        for (long d : p.shape()) {
            n *= d;
        }
        return n;
    }

    private static void write(FileChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            out.write(buffer);
        }
    }
}
