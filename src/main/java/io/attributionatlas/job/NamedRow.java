package io.attributionatlas.job;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;

/**
 * A row of a schema built by field name: {@code NamedRow.of(SCHEMA).set("layer", l).set("mean", m).row()}. A name
 * the schema does not have, a field set twice, or a field left unset fails at once with the schema's field names,
 * so a row cannot silently shift a value into its neighbour's column when a schema changes.
 */
final class NamedRow {

    private final StructType schema;
    private final Object[] values;
    private final boolean[] set;

    private NamedRow(StructType schema) {
        this.schema = schema;
        this.values = new Object[schema.size()];
        this.set = new boolean[schema.size()];
    }

    static NamedRow of(StructType schema) {
        return new NamedRow(schema);
    }

    NamedRow set(String field, Object value) {
        int i;
        try {
            i = schema.fieldIndex(field);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("no field '" + field + "' in " + String.join(", ",
                    schema.fieldNames()));
        }
        if (set[i]) {
            throw new IllegalStateException("field '" + field + "' set twice");
        }
        set[i] = true;
        values[i] = value;
        return this;
    }

    Row row() {
        for (int i = 0; i < set.length; i++) {
            if (!set[i]) {
                throw new IllegalStateException("field '" + schema.fieldNames()[i] + "' not set");
            }
        }
        return RowFactory.create(values);
    }
}
