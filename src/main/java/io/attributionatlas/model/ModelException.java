package io.attributionatlas.model;

import java.nio.file.Path;

/**
 * A model directory, weight file or configuration that cannot be used. The message always names
 * the file and, where there is one, the key, and says what was expected.
 */
public class ModelException extends RuntimeException {

    public ModelException(String message) {
        super(message);
    }

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "FILE: problem" */
    public static ModelException inFile(Path file, String problem) {
        return new ModelException(file + ": " + problem);
    }

    /** "FILE: key 'KEY': problem" */
    public static ModelException atKey(Path file, String key, String problem) {
        return new ModelException(file + ": key '" + key + "': " + problem);
    }
}
