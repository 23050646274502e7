package io.attributionatlas.job;

import java.io.ByteArrayOutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Hostile inputs for the fuzz tests: seed corpora of every format, and mutations of their bytes (flips, inserted
 * NULs, invalid UTF-8, quotes, separators and line breaks, cut and repeated ranges, giant runs) and of their JSON
 * values (wrong types, nulls, deep nesting). Seeded by a {@link Random}, so a failing try is repeated by its seed.
 */
final class HostileInputs {

    /** Bytes that break readers: NUL, invalid UTF-8 lead and continuation bytes, quotes, separators, line ends. */
    private static final byte[] NASTY = {0, (byte) 0xFF, (byte) 0xC3, (byte) 0x80, (byte) 0xED, (byte) 0xF8, '"', ',',
        '\t', ';', '\n', '\r', '{', '}', '[', ']', '\\', ':', ' ', '#'};

    /** How many times more inputs a try generates: 1 in CI, more in scripts/fuzz (-Datlas.fuzz.scale=N). */
    static final int SCALE = Integer.getInteger("atlas.fuzz.scale", 1);

    private HostileInputs() {
    }

    static String seedCorpus(String format, Random random) {
        int rows = 2 + random.nextInt(8 * SCALE);
        StringBuilder b = new StringBuilder();
        char sep = format.equals("tsv") ? '\t' : ',';
        if (!format.equals("jsonl")) {
            b.append("id").append(sep).append("text").append(sep).append("label").append('\n');
        }
        for (int i = 0; i < rows; i++) {
            String text = words(random);
            String label = random.nextBoolean() ? "0" : "1";
            if (format.equals("jsonl")) {
                b.append("{\"id\": \"r").append(i).append("\", \"text\": \"").append(text).append("\", \"label\": ")
                        .append(label).append("}\n");
            } else {
                b.append('r').append(i).append(sep).append(random.nextInt(4) == 0 ? "\"" + text + ", quoted\"" : text)
                        .append(sep).append(label).append('\n');
            }
        }
        return b.toString();
    }

    static String seedSquad(Random random) {
        StringBuilder b = new StringBuilder("{\"version\": \"v2.0\", \"data\": [");
        int articles = 1 + random.nextInt(2 * SCALE);
        for (int a = 0; a < articles; a++) {
            b.append(a > 0 ? ", " : "").append("{\"title\": \"t").append(a).append("\", \"paragraphs\": [{\"context\": \"")
                    .append(words(random)).append("\", \"qas\": [");
            int questions = 1 + random.nextInt(3);
            for (int q = 0; q < questions; q++) {
                b.append(q > 0 ? ", " : "").append("{\"id\": \"q").append(a).append('-').append(q)
                        .append("\", \"question\": \"").append(words(random)).append(" ?\", \"answers\": [], "
                                + "\"is_impossible\": true}");
            }
            b.append("]}]}");
        }
        return b.append("]}").toString();
    }

    private static String words(Random random) {
        String[] pool = {"a", "fine", "film", "the", "plot", "é", "日本", "don't", "[SEP]", "<mask>", "😀", "..."};
        StringBuilder b = new StringBuilder();
        int n = 1 + random.nextInt(12);
        for (int i = 0; i < n; i++) {
            b.append(i > 0 ? " " : "").append(pool[random.nextInt(pool.length)]);
        }
        return b.toString();
    }

    /** 1 to 8 byte-level mutations of {@code seed}. */
    static byte[] mutate(byte[] seed, Random random) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] bytes = seed.clone();
        int mutations = 1 + random.nextInt(8);
        for (int m = 0; m < mutations; m++) {
            int at = bytes.length == 0 ? 0 : random.nextInt(bytes.length);
            out.reset();
            switch (random.nextInt(8)) {
                case 0 -> { // flip a bit
                    if (bytes.length > 0) {
                        bytes[at] ^= (byte) (1 << random.nextInt(8));
                    }
                    continue;
                }
                case 1 -> { // a nasty byte
                    out.write(bytes, 0, at);
                    out.write(NASTY[random.nextInt(NASTY.length)]);
                    out.write(bytes, at, bytes.length - at);
                }
                case 2 -> { // cut a range
                    int len = Math.min(bytes.length - at, 1 + random.nextInt(32));
                    out.write(bytes, 0, at);
                    out.write(bytes, at + len, bytes.length - at - len);
                }
                case 3 -> { // repeat a range
                    int len = Math.min(bytes.length - at, 1 + random.nextInt(64));
                    out.write(bytes, 0, at + len);
                    out.write(bytes, at, bytes.length - at);
                }
                case 4 -> { // truncate the file
                    out.write(bytes, 0, at);
                }
                case 5 -> { // a long run: a giant word, spaces, or a giant quoted field
                    out.write(bytes, 0, at);
                    byte filler = new byte[] {'a', ' ', '"', '\n', (byte) 0xE6}[random.nextInt(5)];
                    byte[] run = new byte[1 + random.nextInt(20_000)];
                    java.util.Arrays.fill(run, filler);
                    out.write(run, 0, run.length);
                    out.write(bytes, at, bytes.length - at);
                }
                case 6 -> { // random bytes
                    out.write(bytes, 0, at);
                    byte[] noise = new byte[1 + random.nextInt(16)];
                    random.nextBytes(noise);
                    out.write(noise, 0, noise.length);
                    out.write(bytes, at, bytes.length - at);
                }
                default -> { // a JSON value replaced: wrong type, null, deep nesting
                    String text = new String(bytes, StandardCharsets.UTF_8);
                    String[] values = {"null", "1e999", "-0", "[]", "{}", "true", "\"\"", "[".repeat(600),
                        "{\"a\": ".repeat(300) + "1" + "}".repeat(300), "\"\\u0000\"", "\"\\ud800\"", "12345678901234567890"};
                    int colon = text.indexOf(": ", random.nextInt(Math.max(1, text.length())));
                    if (colon < 0) {
                        continue;
                    }
                    int end = colon + 2;
                    while (end < text.length() && ",}]\n".indexOf(text.charAt(end)) < 0) {
                        end++;
                    }
                    out.writeBytes((text.substring(0, colon + 2) + values[random.nextInt(values.length)]
                            + text.substring(end)).getBytes(StandardCharsets.UTF_8));
                }
            }
            bytes = out.toByteArray();
        }
        return bytes;
    }

    /** What a bounded call returned and allocated, on a thread of its own. */
    record Bounded<T>(T value, long allocatedBytes) {
    }

    private static final ExecutorService RUNNER = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "hostile-input");
        t.setDaemon(true);
        return t;
    });

    /**
     * Runs {@code call} on its own thread within {@code seconds} (no hang), measuring what that thread allocated
     * (no allocation beyond a bound); its exception is rethrown as it was thrown.
     */
    static <T> Bounded<T> bounded(Callable<T> call, int seconds) throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Future<Bounded<T>> future = RUNNER.submit(() -> {
            long before = threads.getCurrentThreadAllocatedBytes();
            T value = call.call();
            return new Bounded<>(value, threads.getCurrentThreadAllocatedBytes() - before);
        });
        try {
            return future.get(seconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            throw new AssertionError("no answer in " + seconds + " s (a hang)", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw new AssertionError("an error escaped: " + e.getCause(), e.getCause());
        }
    }

    /** Lines a JSON Lines reader sees as records: split at CR, LF or CRLF; blank lines (JSON whitespace) skipped. */
    static long jsonRecords(byte[] bytes) {
        long records = 0;
        boolean content = false;
        for (byte b : bytes) {
            if (b == '\n' || b == '\r') {
                records += content ? 1 : 0;
                content = false;
            } else if (b != ' ' && b != '\t') {
                content = true;
            }
        }
        return records + (content ? 1 : 0);
    }

    static List<String> formats() {
        return new ArrayList<>(List.of("csv", "tsv", "jsonl", "squad"));
    }
}
