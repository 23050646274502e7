package io.attributionatlas.job;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import com.univocity.parsers.csv.CsvParser;
import com.univocity.parsers.csv.CsvParserSettings;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.Type;

/**
 * The input checked before Spark starts, in well under a second from the first few rows: the path exists and is
 * readable, it is not empty, the configured text, pair, label, id and slice columns exist, the first rows parse,
 * and there is a row (a header alone is "no rows" unless {@code input.allow_empty}). Each problem is an
 * {@link IllegalArgumentException} naming the path and the cause; the full read in Spark checks every row again and
 * turns a bad one into an error row.
 */
final class InputCheck {

    /** Lines of a JSON Lines file whose keys are read (Spark reads them all: a key only in later rows is rare). */
    static final int FIRST_ROWS = 20;

    private InputCheck() {
    }

    /** Checks the configured input; returns the format it was read as. */
    static String check(JobConfig config, Configuration hadoop) {
        String path = config.required("input.path");
        FileStatus file = firstDataFile(path, hadoop);
        if (file.getLen() == 0) {
            throw new IllegalArgumentException("input.path " + path + ": the file is empty (0 bytes"
                    + (file.getPath().getName().equals(new Path(path).getName()) ? ")" : ": " + file.getPath() + ")"));
        }
        String format = format(config.get("input.format"), file, hadoop, path);
        if (!format.equals("parquet")) {
            refuseBinary(file, hadoop, format);
        }
        Sampled sampled = switch (format) {
            case "csv", "tsv" -> delimited(file, hadoop, config.separator(format), config.bool("input.header"));
            case "jsonl" -> jsonLines(file, hadoop);
            case "parquet" -> parquet(file, hadoop);
            default -> new Sampled(Set.of(), SquadCorpus.parse(readText(file.getPath(), hadoop, path), path).size());
        };
        if (format.equals("squad")) {
            if (sampled.rows() == 0 && !config.bool("input.allow_empty")) {
                throw new IllegalArgumentException("input.path " + path + ": no questions in the SQuAD document; set "
                        + "input.allow_empty=true to run on an empty corpus");
            }
            return format;
        }
        boolean folder = !file.getPath().toString().endsWith(new Path(path).getName()); // a later part may have rows
        if (sampled.rows() == 0 && !folder && !config.bool("input.allow_empty")) {
            throw new IllegalArgumentException("input.path " + path + ": no rows"
                    + (sampled.columns().isEmpty() ? "" : " (only a header: " + sampled.columns() + ")")
                    + "; set input.allow_empty=true to run on an empty corpus");
        }
        Map<String, String> lowerCase = new java.util.HashMap<>();
        for (String c : sampled.columns()) { // Spark's columns are case-insensitive: it would refuse the file later
            String other = lowerCase.putIfAbsent(c.toLowerCase(Locale.ROOT), c);
            if (other != null) {
                throw new IllegalArgumentException("input.path " + path + ": the columns '" + other + "' and '" + c
                        + "' differ only in case, which Spark cannot tell apart; rename one");
            }
        }
        if (sampled.rows() > 0 || !sampled.columns().isEmpty()) {
            List<String> columns = new ArrayList<>(sampled.columns());
            CorpusReader.checkColumns(config, columns, format.equals("jsonl") ? " in its first " + FIRST_ROWS
                    + " rows" : "");
        }
        return format;
    }

    /** Columns seen and rows counted (up to {@link #FIRST_ROWS} for text formats, all for Parquet). */
    private record Sampled(Set<String> columns, long rows) {
    }

    /** The file itself, or a folder's first data file (Spark's part files; names starting with _ or . skipped). */
    static FileStatus firstDataFile(String path, Configuration hadoop) {
        try {
            Path p = new Path(path);
            FileSystem fs = p.getFileSystem(hadoop);
            if (!fs.exists(p)) {
                throw new IllegalArgumentException("input.path " + path + ": not found");
            }
            FileStatus status = fs.getFileStatus(p);
            if (!status.isDirectory()) {
                return status;
            }
            for (FileStatus f : fs.listStatus(p)) {
                String n = f.getPath().getName();
                if (f.isFile() && !n.startsWith("_") && !n.startsWith(".")) {
                    return f;
                }
            }
            throw new IllegalArgumentException("input.path " + path + ": an empty folder (no data file)");
        } catch (IOException e) {
            throw new IllegalArgumentException("input.path " + path + ": cannot be read (" + e.getMessage() + ")");
        }
    }

    /**
     * The configured format, or for auto the one the data file's extension names; a .json file is SQuAD when it is
     * one document with a "data" array, else JSON Lines.
     */
    static String format(String configured, FileStatus file, Configuration hadoop, String path) {
        if (!configured.equals("auto")) {
            return configured;
        }
        String extension = extensionFormat(file.getPath().getName(), path);
        return !extension.equals("json") ? extension : looksLikeSquad(file, hadoop) ? "squad" : "jsonl";
    }

    private static String extensionFormat(String fileName, String path) {
        String name = fileName.toLowerCase(Locale.ROOT);
        for (String codec : COMPRESSED) { // Spark reads these through Hadoop's codecs, by extension
            if (name.endsWith(codec)) {
                name = name.substring(0, name.length() - codec.length());
            }
        }
        for (String[] extension : new String[][] {{".parquet", "parquet"}, {".jsonl", "jsonl"}, {".ndjson", "jsonl"},
            {".csv", "csv"}, {".tsv", "tsv"}, {".json", "json"}}) {
            if (name.endsWith(extension[0])) {
                return extension[1];
            }
        }
        throw new IllegalArgumentException("input.path " + path + ": cannot tell the format from '" + fileName
                + "'; set input.format (parquet, jsonl, csv, tsv or squad)");
    }

    /** SQuAD JSON: one document with a "data" array (JSON Lines hold an object a line). */
    private static boolean looksLikeSquad(FileStatus file, Configuration hadoop) {
        char[] head = new char[4096];
        try (Reader in = open(file, hadoop)) {
            int n = in.read(head);
            String text = n <= 0 ? "" : new String(head, 0, n).stripLeading();
            return text.startsWith("{") && text.contains("\"data\"") && !text.contains("}\n{");
        } catch (IOException e) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": cannot be read (" + e.getMessage()
                    + ")");
        }
    }

    private static Reader open(FileStatus file, Configuration hadoop) throws IOException {
        return new BufferedReader(new InputStreamReader(openBytes(file.getPath(), hadoop), StandardCharsets.UTF_8));
    }

    /** Extensions of compressed text files that Spark reads (Hadoop's gzip and bzip2 codecs). */
    private static final List<String> COMPRESSED = List.of(".gz", ".bz2");

    /** The file's bytes, decompressed when its extension names a Hadoop codec (as Spark reads it). */
    private static InputStream openBytes(Path file, Configuration hadoop) throws IOException {
        InputStream in = file.getFileSystem(hadoop).open(file);
        CompressionCodec codec = new CompressionCodecFactory(hadoop).getCodec(file);
        return codec == null ? in : codec.createInputStream(in);
    }

    /** A whole text file (decompressed), for one-document formats (SQuAD). */
    static String readText(Path file, Configuration hadoop, String path) {
        try (InputStream in = openBytes(file, hadoop)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("input.path " + path + ": cannot be read (" + e.getMessage() + ")");
        }
    }

    /** Bytes of a text file looked at for binary content. */
    static final int SNIFF_BYTES = 64 * 1024;

    /**
     * Refuses a file that is binary although read as text: a known container's magic number (Parquet, gzip, zip,
     * bzip2, zstd, xz) or a NUL byte in its first {@link #SNIFF_BYTES} bytes (a NUL later is one row's error).
     */
    private static void refuseBinary(FileStatus file, Configuration hadoop, String format) {
        byte[] head;
        try (InputStream in = openBytes(file.getPath(), hadoop)) {
            head = in.readNBytes(SNIFF_BYTES);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": cannot be read as "
                    + format.toUpperCase(Locale.ROOT) + " (" + e.getMessage() + ")");
        }
        String binary = binaryKind(head);
        if (binary != null) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": binary data (" + binary + "), not "
                    + (format.equals("squad") ? "SQuAD JSON" : format.toUpperCase(Locale.ROOT) + " text")
                    + "; a compressed file needs its extension (.gz, .bz2), a Parquet file .parquet or "
                    + "input.format=parquet");
        }
    }

    /** What binary data the bytes start with, or null for text. */
    static String binaryKind(byte[] head) {
        String[][] magic = {{"PAR1", "a Parquet file"}, {"\u00ff\u00fe", "UTF-16 text, not UTF-8"},
            {"\u00fe\u00ff", "UTF-16 text, not UTF-8"}, {"\u001f\u008b", "gzip-compressed"},
            {"PK\u0003\u0004", "a zip archive"}, {"BZh", "bzip2-compressed"}, {"\u0028\u00b5\u002f\u00fd", "zstd-compressed"},
            {"\u00fd7zXZ\u0000", "xz-compressed"}};
        for (String[] m : magic) {
            byte[] prefix = m[0].getBytes(StandardCharsets.ISO_8859_1);
            if (head.length >= prefix.length && Arrays.equals(Arrays.copyOf(head, prefix.length), prefix)) {
                return m[1];
            }
        }
        for (int i = 0; i < head.length; i++) {
            if (head[i] == 0) {
                return "a NUL byte at offset " + i;
            }
        }
        return null;
    }

    /** CSV or TSV as Spark reads them (its own parser, univocity; quotes and escapes "), a header if configured. */
    private static Sampled delimited(FileStatus file, Configuration hadoop, char separator, boolean header) {
        CsvParserSettings settings = new CsvParserSettings();
        settings.getFormat().setDelimiter(separator);
        settings.getFormat().setQuote('"');
        settings.getFormat().setQuoteEscape('"');
        settings.setSkipEmptyLines(true);
        settings.setMaxCharsPerColumn(-1);
        CsvParser parser = new CsvParser(settings);
        Set<String> columns = new LinkedHashSet<>();
        List<String[]> records = new ArrayList<>(); // the header too: a separator guess reads every first row
        try (Reader in = open(file, hadoop)) {
            parser.beginParsing(in);
            long rows = 0;
            for (String[] record = parser.parseNext(); record != null && rows < FIRST_ROWS;
                    record = parser.parseNext()) {
                records.add(record);
                if (columns.isEmpty()) {
                    for (int i = 0; i < record.length; i++) {
                        columns.add(header ? String.valueOf(record[i]) : "_c" + i);
                    }
                    if (header) {
                        continue;
                    }
                }
                rows++;
            }
            parser.stopParsing(); // before the reader closes: the rest of the file is not read
            refuseOtherSeparator(file, separator, records);
            return new Sampled(columns, rows);
        } catch (IOException | com.univocity.parsers.common.TextParsingException e) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": the first rows do not parse as "
                    + (separator == '\t' ? "TSV" : "CSV") + " (" + e.getMessage() + ")");
        }
    }

    /** Separators a delimited file is guessed to use when its first rows are one column holding one of them. */
    private static final char[] SEPARATORS = {',', '\t', ';', '|'};

    /**
     * A delimited file whose first rows are each one column holding another common separator, as many times in
     * every row, was read with the wrong separator: refused, naming the separator found and how to set it.
     */
    private static void refuseOtherSeparator(FileStatus file, char separator, List<String[]> records) {
        if (records.isEmpty() || records.stream().anyMatch(r -> r.length != 1 || r[0] == null)) {
            return;
        }
        String first = records.get(0)[0];
        for (char other : SEPARATORS) {
            long count = first.chars().filter(c -> c == other).count();
            if (other == separator || count == 0
                    || records.stream().anyMatch(r -> r[0].chars().filter(c -> c == other).count() != count)) {
                continue;
            }
            throw new IllegalArgumentException("input.path " + file.getPath() + ": the first rows are one column, "
                    + "read with the separator " + name(separator) + ", and each holds " + count + " × " + name(other)
                    + " ('" + (first.length() > 60 ? first.substring(0, 60) + "…" : first) + "'): set "
                    + (other == '\t' ? "input.format=tsv (or input.separator=tab)"
                            : other == ',' ? "input.format=csv" : "input.separator=" + other));
        }
    }

    private static String name(char separator) {
        return switch (separator) {
            case '\t' -> "tab";
            case ',' -> "comma";
            case ';' -> "semicolon";
            case '|' -> "'|'";
            default -> "'" + separator + "'";
        };
    }

    private static Sampled jsonLines(FileStatus file, Configuration hadoop) {
        try (BufferedReader in = (BufferedReader) open(file, hadoop)) {
            Set<String> columns = new LinkedHashSet<>();
            long rows = 0;
            int lineNumber = 0;
            String firstFailure = null;
            for (String line = in.readLine(); line != null && rows < FIRST_ROWS; line = in.readLine()) {
                lineNumber++;
                if (line.isBlank()) {
                    continue;
                }
                rows++;
                List<String> keys = objectKeys(line);
                if (keys != null) {
                    columns.addAll(keys);
                    continue;
                }
                if (firstFailure == null) {
                    firstFailure = "line " + lineNumber + ": " + (line.length() > 80 ? line.substring(0, 80) + "…"
                            : line);
                }
            }
            if (rows > 0 && columns.isEmpty()) {
                throw new IllegalArgumentException("input.path " + file.getPath() + ": the first rows are not JSON "
                        + "objects, one a line (" + firstFailure + ")");
            }
            return new Sampled(columns, rows);
        } catch (IOException e) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": cannot be read (" + e.getMessage()
                    + ")");
        }
    }

    /** The keys of a JSON object line, its values skipped rather than built (a giant text is not copied); else null. */
    private static List<String> objectKeys(String line) {
        try (com.google.gson.stream.JsonReader reader = new com.google.gson.stream.JsonReader(
                new java.io.StringReader(line))) {
            reader.setStrictness(com.google.gson.Strictness.LENIENT); // as Spark's reader (single quotes, NaN)
            List<String> keys = new ArrayList<>();
            reader.beginObject();
            while (reader.hasNext()) {
                keys.add(reader.nextName());
                reader.skipValue();
            }
            reader.endObject();
            return reader.peek() == com.google.gson.stream.JsonToken.END_DOCUMENT ? keys : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static Sampled parquet(FileStatus file, Configuration hadoop) {
        try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromStatus(file, hadoop))) {
            Set<String> columns = new LinkedHashSet<>();
            for (Type field : reader.getFooter().getFileMetaData().getSchema().getFields()) {
                columns.add(field.getName());
            }
            return new Sampled(columns, reader.getRecordCount());
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("input.path " + file.getPath() + ": not a Parquet file ("
                    + e.getMessage() + ")");
        }
    }
}
