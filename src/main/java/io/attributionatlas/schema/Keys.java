package io.attributionatlas.schema;

import java.io.Serializable;
import java.util.Comparator;

/**
 * The composite keys of the corpus statistics, as records: what the statistics are keyed by, what the job's tables
 * write as columns and what the summary reads, by field name. Ordered field by field (the tables' row order).
 */
public final class Keys {

    private Keys() {
    }

    /** A slice of the corpus: a definition ({@code all}, {@code label}, {@code column:source}, ...) and a value. */
    public record Slice(String slice, String value) implements Comparable<Slice>, Serializable {
        /** The aggregate tables' slice columns, and the definition (and value) of the whole corpus. */
        public static final String COLUMN = "slice";
        public static final String VALUE_COLUMN = "slice_value";
        public static final String ALL = "all";

        private static final Comparator<Slice> ORDER = Comparator.comparing((Slice s) -> !s.slice().equals(ALL))
                .thenComparing(Slice::slice).thenComparing(Slice::value);

        @Override
        public int compareTo(Slice o) {
            return ORDER.compare(this, o);
        }
    }

    /** token_importance: a method's scores of one token (or word) for one target. */
    public record Token(String method, String unit, String token, String target)
            implements Comparable<Token>, Serializable {
        private static final Comparator<Token> ORDER = Comparator.comparing(Token::method).thenComparing(Token::unit)
                .thenComparing(Token::token).thenComparing(Token::target);

        @Override
        public int compareTo(Token o) {
            return ORDER.compare(this, o);
        }
    }

    /** method_agreement: one agreement metric of two methods for one target, on word pieces or words. */
    public record Agreement(String methodA, String methodB, String target, String unit, String metric)
            implements Comparable<Agreement>, Serializable {
        private static final Comparator<Agreement> ORDER = Comparator.comparing(Agreement::methodA)
                .thenComparing(Agreement::methodB).thenComparing(Agreement::target).thenComparing(Agreement::unit)
                .thenComparing(Agreement::metric);

        @Override
        public int compareTo(Agreement o) {
            return ORDER.compare(this, o);
        }
    }

    /** faithfulness: a method's comprehensiveness or sufficiency for one target at k (a fraction, or aopc). */
    public record Faithfulness(String method, String target, String metric, String k)
            implements Comparable<Faithfulness>, Serializable {
        private static final Comparator<Faithfulness> ORDER = Comparator.comparing(Faithfulness::method)
                .thenComparing(Faithfulness::target).thenComparing(Faithfulness::metric)
                .thenComparing(Faithfulness::k);

        @Override
        public int compareTo(Faithfulness o) {
            return ORDER.compare(this, o);
        }
    }
}
