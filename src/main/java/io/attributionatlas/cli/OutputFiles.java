package io.attributionatlas.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writing command output files, creating their folders. */
final class OutputFiles {

    private OutputFiles() {
    }

    static void write(Path path, String content) throws IOException {
        createParent(path);
        Files.writeString(path, content);
    }

    static void createParent(Path path) throws IOException {
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
    }
}
