package io.attributionatlas.cli;

/** Bad command-line arguments: the CLI prints the message and the usage, and exits with status 2. */
final class UsageException extends RuntimeException {

    UsageException(String message) {
        super(message);
    }
}
