package io.attributionatlas.report;

import ai.djl.Device;
import io.attributionatlas.analysis.CorpusSearch;
import io.attributionatlas.schema.Table;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.functions;

/**
 * exBERT's corpus search over a run's token_embeddings at one layer: the layer's vectors in an exact
 * {@link CorpusSearch} on the device, and per row the token, its context and the token each head attends to most.
 * Rows stream from Parquet in blocks (the vectors straight from Spark's binary arrays, never as boxed objects), so the
 * driver holds the vectors once, on the device, plus about 200 bytes of text a row.
 */
public final class CorpusNeighbours implements AutoCloseable {

    /** Rows a loading block carries from Spark to the driver. */
    private static final int LOAD_BLOCK = 8192;
    /** Separates the context before the token, the token and the context after it, in one string a row. */
    private static final char MARK = '\u0000';

    private final CorpusSearch search;
    private final List<String> ids = new ArrayList<>();
    private final int[] positions;
    private final List<String> contexts = new ArrayList<>();
    private final List<String> attended = new ArrayList<>();

    /**
     * One neighbour: the sample and position of a corpus token, its context, and per head the token it attends to
     * most (empty when the run had no attention).
     */
    public record Neighbour(String id, int position, String token, String before, String after, List<String> attended,
            float cosine) {
    }

    private CorpusNeighbours(CorpusSearch search, int[] positions) {
        this.search = search;
        this.positions = positions;
    }

    /** The layers a run's token_embeddings holds, ascending (empty when it has none). */
    public static List<Integer> layers(SparkSession spark, String run) {
        return spark.read().parquet(run + "/" + Table.TOKEN_EMBEDDINGS.tableName()).select("layer").distinct()
                .orderBy("layer").collectAsList().stream().map(r -> r.getInt(0)).toList();
    }

    /** Loads the vectors of {@code layer} onto {@code device}. */
    public static CorpusNeighbours load(SparkSession spark, String run, int layer, Device device) {
        Dataset<Row> rows = spark.read().parquet(run + "/" + Table.TOKEN_EMBEDDINGS.tableName())
                .where(functions.col("layer").equalTo(layer))
                .select("id", "position", "token", "embedding", "context", "context_position", "attended_tokens");
        Iterator<Block> blocks = rows.queryExecution().toRdd().toJavaRDD().mapPartitions(new ToBlocks())
                .toLocalIterator();
        CorpusSearch search = null;
        List<String> ids = new ArrayList<>();
        List<String> contexts = new ArrayList<>();
        List<String> attended = new ArrayList<>();
        java.util.stream.IntStream.Builder positions = java.util.stream.IntStream.builder();
        try {
            while (blocks.hasNext()) {
                Block b = blocks.next();
                if (search == null) {
                    search = new CorpusSearch(b.dimension, device);
                }
                search.addAll(b.vectors, b.ids.length);
                for (int i = 0; i < b.ids.length; i++) {
                    ids.add(b.ids[i]);
                    positions.add(b.positions[i]);
                    contexts.add(b.contexts[i]);
                    attended.add(b.attended[i]);
                }
            }
        } catch (RuntimeException e) {
            if (search != null) {
                search.close();
            }
            throw e;
        }
        if (search == null) {
            throw new IllegalArgumentException("token_embeddings of " + run + " has no vectors at layer " + layer
                    + " (the run's embeddings.layers choose the layers; its layers: " + layers(spark, run) + ")");
        }
        CorpusNeighbours n = new CorpusNeighbours(search, positions.build().toArray());
        n.ids.addAll(ids);
        n.contexts.addAll(contexts);
        n.attended.addAll(attended);
        return n;
    }

    public int size() {
        return search.size();
    }

    /** The row of a sample's token, or −1 when the run did not keep its embedding at this layer. */
    public int row(String id, int position) {
        for (int r = 0; r < ids.size(); r++) {
            if (positions[r] == position && ids.get(r).equals(id)) {
                return r;
            }
        }
        return -1;
    }

    /** Row {@code r} as a neighbour at cosine {@code cosine}. */
    public Neighbour neighbour(int r, float cosine) {
        String[] parts = contexts.get(r).split(String.valueOf(MARK), -1);
        String heads = attended.get(r);
        return new Neighbour(ids.get(r), positions[r], parts[1], parts[0], parts[2], heads == null ? List.of()
                : List.of(heads.split(String.valueOf(MARK), -1)), cosine);
    }

    /** The k nearest corpus tokens to each of {@code rows} (stored rows), each query's own row left out. */
    public List<List<Neighbour>> nearest(int[] rows, int k) {
        float[][] queries = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            queries[i] = search.vector(rows[i]);
        }
        CorpusSearch.Neighbours[] found = search.search(queries, k + 1);
        List<List<Neighbour>> out = new ArrayList<>();
        for (int i = 0; i < rows.length; i++) {
            List<Neighbour> list = new ArrayList<>();
            for (int j = 0; j < found[i].rows().length && list.size() < k; j++) {
                if (found[i].rows()[j] != rows[i]) {
                    list.add(neighbour(found[i].rows()[j], found[i].cosines()[j]));
                }
            }
            out.add(list);
        }
        return out;
    }

    @Override
    public void close() {
        search.close();
    }

    /** A block of rows as the driver receives it. */
    static final class Block implements Serializable {
        private static final long serialVersionUID = 1L;
        int dimension;
        float[] vectors;
        String[] ids;
        int[] positions;
        String[] contexts;
        /** Per row every head's most attended token, joined by the mark; null without attention. */
        String[] attended;
    }

    /** Packs a partition's InternalRows (id, position, token, embedding, context, context_position, attended). */
    private static final class ToBlocks implements FlatMapFunction<Iterator<InternalRow>, Block> {
        private static final long serialVersionUID = 1L;

        @Override
        public Iterator<Block> call(Iterator<InternalRow> rows) {
            return new Iterator<>() { // lazily, a block at a time
                @Override
                public boolean hasNext() {
                    return rows.hasNext();
                }

                @Override
                public Block next() {
                    List<InternalRow> pending = new ArrayList<>();
                    while (rows.hasNext() && pending.size() < LOAD_BLOCK) {
                        pending.add(rows.next().copy()); // Spark reuses the row object
                    }
                    return pack(pending);
                }
            };
        }

        private Block pack(List<InternalRow> rows) {
            Block b = new Block();
            int n = rows.size();
            b.dimension = rows.get(0).getArray(3).numElements();
            b.vectors = new float[n * b.dimension];
            b.ids = new String[n];
            b.positions = new int[n];
            b.contexts = new String[n];
            b.attended = new String[n];
            for (int i = 0; i < n; i++) {
                InternalRow r = rows.get(i);
                b.ids[i] = r.getUTF8String(0).toString();
                b.positions[i] = r.getInt(1);
                System.arraycopy(r.getArray(3).toFloatArray(), 0, b.vectors, i * b.dimension, b.dimension);
                var context = r.getArray(4);
                int at = r.getInt(5);
                StringBuilder s = new StringBuilder();
                for (int t = 0; t < context.numElements(); t++) {
                    if (t == at || t == at + 1) {
                        s.append(MARK);
                    } else if (t > 0) {
                        s.append(' ');
                    }
                    s.append(context.getUTF8String(t).toString());
                }
                if (at + 1 >= context.numElements()) {
                    s.append(MARK);
                }
                b.contexts[i] = s.toString();
                if (!r.isNullAt(6)) { // every head's, in one string
                    var heads = r.getArray(6);
                    StringBuilder a = new StringBuilder();
                    for (int h = 0; h < heads.numElements(); h++) {
                        a.append(h > 0 ? String.valueOf(MARK) : "").append(heads.getUTF8String(h).toString());
                    }
                    b.attended[i] = a.toString();
                }
            }
            return b;
        }
    }
}
