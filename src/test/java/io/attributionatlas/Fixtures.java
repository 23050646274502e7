package io.attributionatlas;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the shared test fixtures (../shared beside the project, or -Datlas.shared=DIR). */
public final class Fixtures {

    private Fixtures() {
    }

    public static Path shared() {
        Path p = Path.of(System.getProperty("atlas.shared", "../shared")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve("golden"))) {
            throw new IllegalStateException("shared fixtures not found at " + p
                    + " (check out ../shared beside the project or pass -Datlas.shared=DIR)");
        }
        return p;
    }

    public static Path realModel() {
        return shared().resolve("models/minilm-sst2");
    }

    public static Path golden(String name) {
        return shared().resolve("golden").resolve(name);
    }

    /** The JVM flags every Attribution Atlas JVM gets (conf/jvm.properties), for tests that fork a JVM. */
    public static String jvmFlags() throws java.io.IOException {
        for (String l : Files.readAllLines(Path.of("conf/jvm.properties"))) {
            if (l.startsWith("atlas.jvm.flags=")) {
                return l.substring("atlas.jvm.flags=".length()).trim();
            }
        }
        throw new IllegalStateException("conf/jvm.properties has no atlas.jvm.flags");
    }
}
