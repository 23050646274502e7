package io.attributionatlas.job;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.Strictness;
import java.io.IOException;
import java.io.Serializable;
import java.io.StringReader;

/**
 * Why an input row cannot be read, named: a line over {@code input.max_line_bytes}, binary data, bytes that are not
 * UTF-8, a JSON line that is not JSON or not an object. Pure functions of the row's text, applied by
 * {@link CorpusReader} on every row, so a bad row becomes an error row with its own reason.
 */
final class RowChecks implements Serializable {

    private static final long serialVersionUID = 1L;

    /** What a reader makes of bytes that are not UTF-8 (Java's decoders and Spark's strings alike). */
    static final char REPLACEMENT = '\uFFFD';

    private final long maxLineBytes;
    private final boolean invalidUtf8IsError;

    RowChecks(long maxLineBytes, boolean invalidUtf8IsError) {
        this.maxLineBytes = maxLineBytes;
        this.invalidUtf8IsError = invalidUtf8IsError;
    }

    static RowChecks of(JobConfig config) {
        return new RowChecks(config.maxLineBytes(), config.invalidUtf8IsError());
    }

    /** The reason a row of {@code bytes} bytes is refused for its size, or null. */
    String oversize(long bytes) {
        return bytes > maxLineBytes ? String.format(java.util.Locale.ROOT, "row over input.max_line_bytes (%,d bytes; "
                + "the limit is %,d)", bytes, maxLineBytes) : null;
    }

    /** The UTF-8 length of a text (0 for null), without encoding it. */
    static long utf8Bytes(String s) {
        if (s == null) {
            return 0;
        }
        long bytes = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3; // a pair's two halves: 4
        }
        return bytes;
    }

    /** The reason a text field ({@code name}: text, text pair, label, id) cannot be explained, or null. */
    String field(String name, String value) {
        if (value == null) {
            return null;
        }
        int nul = value.indexOf('\0');
        if (nul >= 0) {
            return "binary data in the " + name + " (a NUL character at character " + (nul + 1) + ")";
        }
        int replaced = value.indexOf(REPLACEMENT);
        if (replaced >= 0 && invalidUtf8IsError) {
            return "invalid UTF-8 in the " + name + " (bytes that are not UTF-8, read as U+FFFD, at character "
                    + (replaced + 1) + "; input.invalid_utf8=replace explains the text with them)";
        }
        return null;
    }

    /**
     * Why a JSON line that Spark could not read as an object is bad: binary, not UTF-8, not JSON, not an object.
     * Characters are counted from 1 here and in {@link #field}, as JSON parsers count columns.
     */
    static String malformedJsonLine(String line) {
        int nul = line.indexOf('\0');
        if (nul >= 0) {
            return "binary data, not a JSON line (a NUL byte at character " + (nul + 1) + ")";
        }
        int replaced = line.indexOf(REPLACEMENT);
        if (replaced >= 0) {
            return "invalid UTF-8 in the JSON line (bytes that are not UTF-8 at character " + (replaced + 1) + ")";
        }
        try (JsonReader reader = new JsonReader(new StringReader(line))) {
            reader.setStrictness(Strictness.STRICT);
            JsonToken first = reader.peek();
            if (first != JsonToken.BEGIN_OBJECT) {
                return "JSON line is not an object (it is " + describe(first) + ")";
            }
            JsonElement parsed = com.google.gson.JsonParser.parseReader(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                return "malformed JSON line (more than one value on the line)";
            }
            return "malformed JSON line (" + parsed.getAsJsonObject().size() + " keys, but Spark could not read it as "
                    + "a row of the input's columns)";
        } catch (IOException | JsonParseException | IllegalStateException e) {
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            String message = String.valueOf(cause.getMessage()).lines().findFirst().orElse("")
                    .replace(" at line 1 column ", " at character ");
            return "malformed JSON line (" + (message.length() > 160 ? message.substring(0, 160) + "…" : message) + ")";
        }
    }

    private static String describe(JsonToken token) {
        return switch (token) {
            case BEGIN_ARRAY -> "an array";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            default -> "empty";
        };
    }
}
