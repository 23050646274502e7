package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;

/** Rows are built by field name: values land in their own columns whatever the order they are set in. */
class NamedRowTest {

    @Test
    void valuesGoToTheirNamedColumnsAndMistakesFailAtOnce() {
        Row r = NamedRow.of(Tables.FAITHFULNESS_SCHEMA).set("std", 0.5).set("mean", 0.25).set("count", 3L)
                .set("k", "aopc").set("metric", "sufficiency").set("target", "pos").set("method", "lime")
                .set("slice_value", "all").set("slice", "all").row();
        assertEquals("lime", r.getString(Tables.FAITHFULNESS_SCHEMA.fieldIndex("method")));
        assertEquals(0.25, r.getDouble(Tables.FAITHFULNESS_SCHEMA.fieldIndex("mean")));
        assertEquals(0.5, r.getDouble(Tables.FAITHFULNESS_SCHEMA.fieldIndex("std")));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> NamedRow.of(Tables.FAITHFULNESS_SCHEMA).set("avg", 1.0));
        assertTrue(unknown.getMessage().contains("no field 'avg'") && unknown.getMessage().contains("mean"),
                unknown.getMessage());
        assertThrows(IllegalStateException.class, () -> NamedRow.of(Tables.FAITHFULNESS_SCHEMA).set("k", "a")
                .set("k", "b"));
        IllegalStateException unset = assertThrows(IllegalStateException.class,
                () -> NamedRow.of(Tables.ERRORS_SCHEMA).set("row_index", 1L).set("id", "x").set("reason", "r").row());
        assertTrue(unset.getMessage().contains("'raw' not set"), unset.getMessage());
    }
}
