package io.attributionatlas.cli;

import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.SpecialTokens;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TransformerModel;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** {@code atlas inspect}: what a model directory holds, validated as a load would. */
final class InspectCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "inspect " + ModelOptions.USAGE;
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) {
        Arguments a = new Arguments(args, 1, ModelOptions.names());
        Path dir = a.path("model");
        try (Predictor p = ModelOptions.open(a)) {
            TransformerModel model = p.model();
            ModelConfig c = model.config();
            out.printf("model          %s%n", dir.toAbsolutePath().normalize());
            out.printf("architecture   %s %s%n", c.family().modelType(), c.architectures());
            out.printf("task           %s%n", c.task().cliName());
            out.printf("layers         %d%n", c.numLayers());
            out.printf("heads          %d (head size %d)%n", c.numHeads(), c.headSize());
            out.printf("hidden size    %d%n", c.hiddenSize());
            out.printf("embedding size %d%s%n", c.embeddingSize(),
                    c.hasEmbeddingProjection() ? " (projected to hidden size by embeddings_project)" : "");
            out.printf("intermediate   %d%n", c.intermediateSize());
            out.printf("activation     %s%n", c.activationName());
            out.printf("vocabulary     %d%n", c.vocabSize());
            out.printf("max length     %d tokens (position table %d)%n", c.maxLength(), c.maxPositions());
            out.printf("token types    %d%n", c.typeVocabSize());
            if (!c.labels().isEmpty()) {
                List<String> labels = new ArrayList<>();
                for (int i = 0; i < c.labels().size(); i++) {
                    labels.add(i + "=" + c.labels().get(i));
                }
                out.printf("labels         %s%n", String.join(", ", labels));
            }
            out.printf("parameters     %,d%n", model.loadReport().parameterCount());
            out.printf("stored dtype   %s (computed in F32)%n", String.join(", ", model.loadReport().storedDtypes()));
            SpecialTokens s = p.tokenizer().specialTokens();
            out.printf("tokenizer      vocabulary %d, [CLS]=%d [SEP]=%d [PAD]=%d [MASK]=%d [UNK]=%d, max length %d%n",
                    p.tokenizer().vocabularySize(), s.cls(), s.sep(), s.pad(), s.mask(), s.unk(),
                    p.tokenizer().maxLength());
            List<String> ignored = model.loadReport().ignoredKeys();
            out.printf("ignored keys   %d%s%n", ignored.size(), ignored.isEmpty() ? "" : ":");
            ignored.forEach(k -> out.println("  " + k));
        }
        return 0;
    }

}
