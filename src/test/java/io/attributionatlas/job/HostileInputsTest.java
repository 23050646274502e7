package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Property-based fuzzing (jqwik) of the corpus readers and the input check, with generated and mutated corpora of
 * every text format ({@link HostileInputs}). On every input: no exception escapes but the project's named refusal
 * (an {@link IllegalArgumentException} naming the input path or key), no hang (a time bound a call), no allocation
 * beyond a bound, and every row is accounted for: as a row the job explains or as an error row with its reason,
 * and in the job as a sample or an error. scripts/fuzz runs the same properties for minutes.
 */
class HostileInputsTest {

    private static Path tmp;
    private static SparkSession spark;
    private static final Configuration HADOOP = new Configuration();
    private static final int SECONDS = 20;

    @BeforeContainer
    static void start() throws IOException {
        Files.createDirectories(Path.of("target"));
        tmp = Files.createTempDirectory(Path.of("target"), "hostile-inputs");
    }

    @AfterContainer
    static void stop() throws IOException {
        if (spark != null) {
            spark.stop();
            spark = null;
        }
        try (Stream<Path> files = Files.walk(tmp)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Provide
    Arbitrary<String> formats() {
        return Arbitraries.of(HostileInputs.formats());
    }

    /** A mutated corpus of {@code format} in a file of its own, named by its format's extension. */
    private static Path corpus(String format, Random random) throws IOException {
        String seed = format.equals("squad") ? HostileInputs.seedSquad(random) : HostileInputs.seedCorpus(format, random);
        byte[] bytes = HostileInputs.mutate(seed.getBytes(StandardCharsets.UTF_8), random);
        Path dir = Files.createTempDirectory(tmp, format);
        Path file = dir.resolve("corpus." + (format.equals("squad") ? "json" : format));
        Files.write(file, bytes);
        return file;
    }

    /**
     * A folder of {@link HostileInputs#SCALE} mutated corpora of {@code format} (SQuAD: one document), as Spark reads
     * a folder of part files: the input check reads the first, Spark all of them.
     */
    private static Path folder(String format, Random random) throws IOException {
        if (format.equals("squad")) {
            return corpus(format, random);
        }
        Path dir = Files.createTempDirectory(tmp, format + "-parts");
        for (int i = 0; i < HostileInputs.SCALE; i++) {
            Files.move(corpus(format, random), dir.resolve("part-" + i + "." + format));
        }
        return dir;
    }

    /** The JSON Lines records of a file or of a folder's files. */
    private static long jsonRecords(Path input) throws IOException {
        if (!Files.isDirectory(input)) {
            return HostileInputs.jsonRecords(Files.readAllBytes(input));
        }
        long records = 0;
        try (Stream<Path> files = Files.list(input)) {
            for (Path f : files.toList()) {
                records += HostileInputs.jsonRecords(Files.readAllBytes(f));
            }
        }
        return records;
    }

    private static JobConfig config(Path file, String format, boolean explicitFormat) {
        return JobConfig.load(null, Map.of("input.path", file.toString(), "input.format",
                explicitFormat ? format : "auto"));
    }

    /** A refusal names the input (its path) or the key it is about. */
    private static void assertNamed(IllegalArgumentException e) {
        String m = String.valueOf(e.getMessage());
        assertTrue(m.startsWith("input.path ") || m.startsWith("input: ") || m.startsWith("input."), m);
    }

    @Property
    void theInputCheckPassesOrRefusesByName(@ForAll("formats") String format, @ForAll boolean explicitFormat,
            @ForAll Random random) throws Exception {
        Path file = corpus(format, random);
        long size = Files.size(file);
        try {
            HostileInputs.Bounded<String> r = HostileInputs.bounded(() -> InputCheck.check(config(file, format,
                    explicitFormat), HADOOP), SECONDS);
            assertTrue(r.allocatedBytes() < 64L * 1024 * 1024 + 32 * size, r.allocatedBytes() + " bytes allocated");
            Statistics.label("check").collect("passed");
        } catch (IllegalArgumentException e) {
            assertNamed(e);
            Statistics.label("check").collect("refused");
        }
    }

    @Property
    void aSquadDocumentIsReadOrRefusedByName(@ForAll Random random) throws Exception {
        String json = new String(HostileInputs.mutate(HostileInputs.seedSquad(random).getBytes(StandardCharsets.UTF_8),
                random), StandardCharsets.UTF_8);
        try {
            HostileInputs.Bounded<List<SquadCorpus.Question>> r = HostileInputs.bounded(() -> SquadCorpus.parse(json,
                    "x.json"), SECONDS);
            assertTrue(r.allocatedBytes() < 64L * 1024 * 1024 + 64L * json.length(), r.allocatedBytes() + " bytes");
            r.value().forEach(q -> assertNotNull(q.raw()));
            Statistics.label("squad").collect("read");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith("input.path x.json: not SQuAD JSON ("), e.getMessage());
            Statistics.label("squad").collect("refused");
        }
    }

    @Property
    void aBadJsonLineGetsANamedReason(@ForAll Random random) throws Exception {
        String seed = HostileInputs.seedCorpus("jsonl", random).lines().findFirst().orElseThrow();
        String line = new String(HostileInputs.mutate(seed.getBytes(StandardCharsets.UTF_8), random),
                StandardCharsets.UTF_8);
        String reason = HostileInputs.bounded(() -> RowChecks.malformedJsonLine(line), SECONDS).value();
        assertTrue(reason.startsWith("malformed JSON line (") || reason.startsWith("JSON line is not an object (")
                || reason.startsWith("invalid UTF-8 in the JSON line (") || reason.startsWith("binary data, not a JSON"),
                reason);
        Statistics.label("reason").collect(reason.substring(0, Math.min(reason.length(), 22)));
    }

    /**
     * Spark reads every record of a corpus the input check passed as one row, numbered 0..n-1, that is either a row
     * to explain or an error row with its reason; for JSON Lines, one row per non-blank line.
     */
    @Property(tries = 12)
    void sparkReadsEveryRecordAsARowOrAnError(@ForAll("formats") String format, @ForAll Random random)
            throws Exception {
        Path file = folder(format, random);
        JobConfig config = config(file, format, false);
        try {
            InputCheck.check(config, HADOOP);
        } catch (IllegalArgumentException e) {
            assertNamed(e);
            Statistics.label("read").collect("refused before Spark");
            return;
        }
        List<Row> rows;
        try {
            rows = HostileInputs.bounded(() -> CorpusReader.read(session(), config).collectAsList(), 60).value();
        } catch (IllegalArgumentException e) {
            assertNamed(e); // a column the first rows had and the whole file does not: refused by name
            Statistics.label("read").collect("refused by name");
            return;
        }
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            assertEquals(i, r.getLong(0), "rows numbered in input order");
            assertTrue(r.getString(6) != null || r.getString(5) != null, "an error row or its raw form: " + r);
        }
        if (format.equals("jsonl")) {
            assertEquals(jsonRecords(file), rows.size(), "one row per line");
        }
        Statistics.label("read").collect("read");
        Statistics.label("rows").collect(rows.stream().anyMatch(r -> r.getString(6) != null) ? "with error rows"
                : "all explainable");
    }

    /** The whole job on a tiny model: it ends, and samples + errors = the input's rows. */
    @Property(tries = 2)
    void theJobAccountsForEveryRow(@ForAll("formats") String format, @ForAll Random random) throws Exception {
        Path file = folder(format, random);
        Path model = SyntheticCorpus.tinyModel(tmp.resolve("tiny-model"), 1);
        Path output = Files.createTempDirectory(tmp, "out");
        Map<String, String> settings = new HashMap<>(Map.of("input.path", file.toString(), "model.path",
                model.toString(), "output.path", output.resolve("run").toString(), "level", "attention",
                "spark.master", "local[1]"));
        settings.put("input.label_column", "none");
        JobConfig config = JobConfig.load(null, settings);
        session();
        AttributionJob.Result result;
        try {
            result = HostileInputs.bounded(() -> AttributionJob.run(config, "fuzz", new PrintStream(
                    new ByteArrayOutputStream())), 120).value();
        } catch (IllegalArgumentException e) {
            assertNamed(e);
            Statistics.label("job").collect("refused before Spark");
            return;
        }
        assertEquals(result.inputRows(), result.samples() + result.errors(), "samples + errors = rows");
        if (format.equals("jsonl")) {
            assertEquals(jsonRecords(file), result.inputRows());
        }
        Statistics.label("job").collect("ran");
    }

    /** The rows Spark reads from {@code bytes} in a file named {@code name}, after the input check passed. */
    private static List<Row> read(String name, byte[] bytes, String... settings) throws IOException {
        Path file = Files.createTempDirectory(tmp, "named").resolve(name);
        Files.write(file, bytes);
        Map<String, String> values = new HashMap<>(Map.of("input.path", file.toString()));
        for (int i = 0; i < settings.length; i += 2) {
            values.put(settings[i], settings[i + 1]);
        }
        JobConfig config = JobConfig.load(null, values);
        InputCheck.check(config, HADOOP);
        return CorpusReader.read(session(), config).collectAsList();
    }

    private static String refusal(String name, byte[] bytes, String... settings) {
        try {
            read(name, bytes, settings);
        } catch (IllegalArgumentException | IOException e) {
            return e.getMessage();
        }
        throw new AssertionError(name + " was not refused");
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    @Example
    void invalidUtf8IsItsOwnReasonInEveryFormat() throws IOException {
        byte[] bad = {(byte) 0xFF, (byte) 0xC3, ' '};
        List<Row> jsonl = read("c.jsonl", concat(bytes("{\"text\": \"fine\"}\n{\"text\": \"a "), bad,
                bytes("film\"}\n")));
        assertEquals(2, jsonl.size());
        assertEquals(null, jsonl.get(0).getString(6));
        assertTrue(jsonl.get(1).getString(6).startsWith("invalid UTF-8 in the JSON line (bytes that are not UTF-8 at "
                + "character 13)"), jsonl.get(1).getString(6));
        List<Row> csv = read("c.csv", concat(bytes("text,label\nfine,0\na "), bad, bytes("film,1\n")));
        assertTrue(csv.get(1).getString(6).startsWith("invalid UTF-8 in the text (bytes that are not UTF-8, read as "
                + "U+FFFD, at character 3;"), csv.get(1).getString(6));
        List<Row> replaced = read("c.csv", concat(bytes("text,label\na "), bad, bytes("film,1\n")),
                "input.invalid_utf8", "replace");
        assertEquals(null, replaced.get(0).getString(6));
        assertTrue(replaced.get(0).getString(2).contains("\uFFFD"));
    }

    @Example
    void aNulIsBinaryAndAJsonLineNotAnObjectSaysWhatItIs() throws IOException {
        List<Row> rows = read("c.jsonl", bytes("{\"text\": \"fine\"}\n[1, 2]\n{\"text\": \"a\\u0000b\"}\n"
                + "{\"text\": \"open\n"));
        assertEquals("JSON line is not an object (it is an array)", rows.get(1).getString(6));
        assertEquals("binary data in the text (a NUL character at character 2)", rows.get(2).getString(6));
        assertTrue(rows.get(3).getString(6).startsWith("malformed JSON line (Unterminated string"),
                rows.get(3).getString(6));
    }

    @Example
    void aRowOverTheLineLimitIsAnErrorRowThatKeepsOnlyItsStart() throws IOException {
        String big = "word ".repeat(400);
        List<Row> rows = read("c.jsonl", bytes("{\"text\": \"fine\"}\n{\"text\": \"" + big + "\"}\n"),
                "input.max_line_bytes", "1000");
        assertEquals(null, rows.get(0).getString(6));
        assertEquals("row over input.max_line_bytes (2,000 bytes; the limit is 1,000)", rows.get(1).getString(6));
        assertEquals(null, rows.get(1).getString(2), "the text is not kept");
    }

    @Example
    void binaryFilesAndWrongSeparatorsAreRefusedBeforeSpark() throws IOException {
        assertTrue(refusal("c.csv", concat(bytes("text\nfine"), new byte[] {0, 1, 2})).contains(
                "binary data (a NUL byte at offset 9), not CSV text"));
        assertTrue(refusal("c.jsonl", new byte[] {0x1f, (byte) 0x8b, 8, 0}).contains("binary data (gzip-compressed)"));
        assertTrue(refusal("c.csv", bytes("PAR1....")).contains("binary data (a Parquet file)"));
        String semicolons = refusal("c.csv", bytes("id;text;label\na;fine;0\nb;bad;1\n"));
        assertTrue(semicolons.contains("the first rows are one column, read with the separator comma, and each holds "
                + "2 × semicolon ('id;text;label'): set input.separator=;"), semicolons);
        String tabs = refusal("c.csv", bytes("text\tlabel\nfine\t0\n"));
        assertTrue(tabs.contains("set input.format=tsv (or input.separator=tab)"), tabs);
        String commas = refusal("c.tsv", bytes("text,label\nfine,0\n"));
        assertTrue(commas.contains("set input.format=csv"), commas);
        assertEquals(2, read("c.csv", bytes("id;text;label\na;fine;0\nb;bad;1\n"), "input.separator", ";").size());
        // one column holding a comma, but not in every row alike: a text, not a separator
        assertEquals(2, read("c.tsv", bytes("text\nfine, really\nbad\n")).size());
    }

    @Example
    void aGiantTextIsCutAtASpaceAsItIsRead() throws IOException {
        Path file = Files.createTempDirectory(tmp, "giant").resolve("c.jsonl");
        String giant = "a fine film ".repeat(1000);
        Files.writeString(file, "{\"text\": \"short one\"}\n{\"text\": \"" + giant + "\", \"pair\": \"x\"}\n");
        JobConfig config = JobConfig.load(null, Map.of("input.path", file.toString(), "input.text_pair_column", "pair"));
        List<Row> rows = CorpusReader.read(session(), config, 100).collectAsList();
        assertEquals("short one", rows.get(0).getString(2));
        assertEquals(false, rows.get(0).getBoolean(7));
        assertEquals("a fine film a fine film a fine film a fine film a fine film a fine film a fine film a fine film "
                + "a fine", rows.get(1).getString(2), "cut before the first space after 100 characters");
        assertEquals("x", rows.get(1).getString(3));
        assertEquals(true, rows.get(1).getBoolean(7));
        assertTrue(rows.get(1).getString(5).length() < 1100, "the raw row holds errors.raw_chars of the text");
    }

    /** Found by theJobAccountsForEveryRow: a mutated header named a column i` and Spark refused its quoting. */
    @Example
    void aColumnNameWithABacktickIsRead() throws IOException {
        List<Row> rows = read("c.csv", bytes("i`d,text,la`bel\na,fine,0\n"), "input.id_column", "i`d");
        assertEquals("a", rows.get(0).getString(1));
        assertEquals("fine", rows.get(0).getString(2));
    }

    /**
     * Found by scripts/fuzz (sparkReadsEveryRecordAsARowOrAnError): keys "Text" and "text" in one row made Spark throw
     * COLUMN_ALREADY_EXISTS, which crashed the job; now a refusal naming the file, before Spark when the first rows
     * show it.
     */
    @Example
    void columnsThatDifferOnlyInCaseAreRefusedByName() throws IOException {
        String header = refusal("c.csv", bytes("id,text,Text\na,fine,x\n"));
        assertTrue(header.endsWith("the columns 'text' and 'Text' differ only in case, which Spark cannot tell apart; "
                + "rename one"), header);
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < InputCheck.FIRST_ROWS; i++) {
            lines.append("{\"text\": \"fine\"}\n");
        }
        String later = refusal("c.jsonl", bytes(lines + "{\"text\": \"late\", \"Text\": \"x\"}\n"));
        assertTrue(later.contains("Spark cannot read it as jsonl ([COLUMN_ALREADY_EXISTS]") && later.endsWith(
                "column names must differ in more than case"), later);
    }

    @Example
    void compressedTextIsReadThroughItsExtension() throws IOException {
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write(bytes("{\"text\": \"fine\"}\n{\"text\": \"bad\"}\n"));
        }
        List<Row> rows = read("c.jsonl.gz", gz.toByteArray());
        assertEquals(List.of("fine", "bad"), rows.stream().map(r -> r.getString(2)).toList());
    }

    @Example
    void aSquadDocumentOfTheWrongShapeIsRefusedWhereItIsWrong() {
        String m = refusal("s.json", bytes("{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", "
                + "\"qas\": {}}]}]}"), "input.format", "squad");
        assertTrue(m.endsWith("not SQuAD JSON (data[0].paragraphs[0] has no \"qas\" array)"), m);
    }

    private static SparkSession session() {
        if (spark == null) {
            spark = SparkSession.builder().master("local[1]").appName("hostile-inputs")
                    .config("spark.ui.enabled", "false").getOrCreate();
        }
        return spark;
    }
}
