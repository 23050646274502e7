package io.attributionatlas.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.model.TextInput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Texts of a small local corpus for the benchmark commands: CSV with a header (column "sentence" or
 * "text", else the first), JSON Lines ({@code text}, optional {@code text_pair}, {@code id}), or SQuAD
 * JSON (each question with its context becomes a pair).
 */
final class LocalCorpus {

    private LocalCorpus() {
    }

    static List<TextInput> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new UsageException("input file not found: " + file);
        }
        String name = file.getFileName().toString();
        List<TextInput> inputs = new ArrayList<>();
        if (name.endsWith(".jsonl")) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                    inputs.add(new TextInput(o.has("id") ? o.get("id").getAsString() : "line-" + (inputs.size() + 1),
                            o.get("text").getAsString(), o.has("text_pair") && !o.get("text_pair").isJsonNull()
                                    ? o.get("text_pair").getAsString() : null));
                }
            }
        } else if (name.endsWith(".json")) {
            JsonObject root = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
            for (JsonElement article : root.getAsJsonArray("data")) {
                for (JsonElement paragraph : article.getAsJsonObject().getAsJsonArray("paragraphs")) {
                    String context = paragraph.getAsJsonObject().get("context").getAsString();
                    for (JsonElement qa : paragraph.getAsJsonObject().getAsJsonArray("qas")) {
                        JsonObject q = qa.getAsJsonObject();
                        inputs.add(new TextInput(q.get("id").getAsString(), q.get("question").getAsString(), context));
                    }
                }
            }
        } else {
            List<List<String>> rows = Csv.read(file);
            int column = Math.max(0, Math.max(rows.get(0).indexOf("sentence"), rows.get(0).indexOf("text")));
            for (List<String> r : rows.subList(1, rows.size())) {
                inputs.add(new TextInput("row-" + (inputs.size() + 1), r.get(column), null));
            }
        }
        return inputs;
    }
}
