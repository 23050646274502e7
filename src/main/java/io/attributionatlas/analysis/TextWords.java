package io.attributionatlas.analysis;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.List;
import java.util.Locale;

/**
 * Word scores of two tokenizers made comparable. Each tokenizer splits a text into words of its own (WordPiece
 * splits "don't" into three, byte-level BPE into two); every tokenizer's words lie within the text's
 * whitespace-separated words, so these are the common unit: a tokenizer word is placed in the whitespace word that
 * contains it, found by its surface text (its pieces joined, without WordPiece's ## or the BPE and SentencePiece
 * space marks, byte-level pieces decoded to UTF-8), case and accents ignored (uncased vocabularies drop both).
 */
public final class TextWords {

    private static final char SENTENCEPIECE_SPACE = '\u2581';
    /** GPT-2's byte-level alphabet: the character standing for each byte, and back. */
    private static final int[] BYTE_OF_CHAR = byteOfChar();

    private TextWords() {
    }

    /** The text's whitespace-separated words; a pair's second text continues the first's. */
    public static int count(String text, String textPair) {
        String s = textPair == null ? text : text + "\n" + textPair;
        String trimmed = s.strip();
        return trimmed.isEmpty() ? 0 : trimmed.split("\\s+").length;
    }

    /**
     * For each tokenizer word (the values of {@code wordIds}; -1 marks special tokens), the whitespace word of the
     * text that contains it, or -1 where its surface is not found in order (then it is left out of the comparison).
     */
    public static int[] place(String text, String textPair, List<String> tokens, List<Integer> wordIds) {
        String s = textPair == null ? text : text + "\n" + textPair;
        StringBuilder normalised = new StringBuilder();
        int[] wordAt = new int[s.length() * 4 + 4]; // the whitespace word of each normalised character
        int word = -1;
        boolean inWord = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                inWord = false;
                continue;
            }
            if (!inWord) {
                word++;
                inWord = true;
            }
            for (char n : normalise(String.valueOf(c)).toCharArray()) {
                if (normalised.length() == wordAt.length) {
                    wordAt = java.util.Arrays.copyOf(wordAt, wordAt.length * 2);
                }
                wordAt[normalised.length()] = word;
                normalised.append(n);
            }
        }
        String[] surfaces = surfaces(tokens, wordIds);
        int[] placed = new int[surfaces.length];
        int cursor = 0;
        for (int w = 0; w < surfaces.length; w++) {
            String surface = surfaces[w];
            int at = surface.isEmpty() ? -1 : normalised.indexOf(surface, cursor);
            placed[w] = at < 0 ? -1 : wordAt[at];
            cursor = at < 0 ? cursor : at + surface.length();
        }
        placeUnfound(placed, surfaces, word + 1);
        return placed;
    }

    /**
     * Words whose surface is not in the text (an unknown token: [UNK], &lt;unk&gt;) placed by their neighbours: in the
     * whitespace word of both neighbours where they share one, or in the one whitespace word between them that
     * holds no found word; otherwise left out. Words of spaces only stay out.
     */
    private static void placeUnfound(int[] placed, String[] surfaces, int textWords) {
        for (int w = 0; w < placed.length; w++) {
            if (placed[w] >= 0 || surfaces[w].isEmpty()) {
                continue;
            }
            int end = w;
            while (end < placed.length && placed[end] < 0) {
                end++;
            }
            int before = -1;
            for (int p = w - 1; p >= 0 && before < 0; p--) {
                before = placed[p];
            }
            int after = end < placed.length ? placed[end] : textWords;
            int target = before >= 0 && before == after ? before : after - before == 2 ? before + 1 : -1;
            for (int u = w; u < end; u++) {
                placed[u] = surfaces[u].isEmpty() ? -1 : target;
            }
            w = end - 1;
        }
    }

    /** Each tokenizer word's surface text, as {@link #key}: its pieces joined, marks removed, byte-level decoded. */
    static String[] surfaces(List<String> tokens, List<Integer> wordIds) {
        int words = wordIds.stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        StringBuilder[] out = new StringBuilder[words];
        for (int i = 0; i < tokens.size() && i < wordIds.size(); i++) {
            int w = wordIds.get(i);
            if (w >= 0) {
                String piece = tokens.get(i);
                piece = piece.startsWith("##") ? piece.substring(2) : piece;
                (out[w] == null ? out[w] = new StringBuilder() : out[w]).append(piece);
            }
        }
        String[] surfaces = new String[words];
        for (int w = 0; w < words; w++) {
            surfaces[w] = out[w] == null ? "" : key(out[w].toString());
        }
        return surfaces;
    }

    /**
     * A byte-level BPE word (every character one of GPT-2's 256 byte characters) decoded as UTF-8; any other word
     * (WordPiece, SentencePiece, or bytes that are not UTF-8) as it is.
     */
    static String byteLevelDecoded(String word) {
        byte[] bytes = new byte[word.length()];
        for (int i = 0; i < word.length(); i++) {
            char c = word.charAt(i);
            if (c >= BYTE_OF_CHAR.length || BYTE_OF_CHAR[c] < 0) {
                return word;
            }
            bytes[i] = (byte) BYTE_OF_CHAR[c];
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return word;
        }
    }

    /** A word's key across tokenizers: its text byte-level decoded, without space marks, case or accents. */
    public static String key(String word) {
        return normalise(byteLevelDecoded(word).replace(String.valueOf(SENTENCEPIECE_SPACE), "").strip());
    }

    /** Lower case, accents removed: what uncased vocabularies keep of a text. */
    static String normalise(String s) {
        return Normalizer.normalize(s, Normalizer.Form.NFD).replaceAll("\\p{M}", "").toLowerCase(Locale.ROOT);
    }

    /** GPT-2's bytes_to_unicode, inverted: printable Latin-1 bytes stand for themselves, the rest from U+0100 on. */
    private static int[] byteOfChar() {
        int[] table = new int[0x100 + 0x100];
        java.util.Arrays.fill(table, -1);
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[printable ? b : 0x100 + next++] = b;
        }
        return table;
    }
}
