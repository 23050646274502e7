package io.attributionatlas.report;

import io.attributionatlas.schema.Keys;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The report's slice selector. The aggregate tables hold every slice (slice, slice_value); a section rendered through
 * {@link #render} is rendered once per slice, with each table's temporary view holding only that slice's rows, into
 * a block that the section's selector shows. The selectors of all sections move together (see {@link #SCRIPT}).
 */
final class SliceViews {

    /** Slices shown in the report, the whole corpus first; a run may define more (slices.max_values per definition). */
    static final int MAX_SHOWN = 60;

    /** Shows the block of the chosen slice in every section and keeps every section's selector on the same slice. */
    static final String SCRIPT = """
            <script>
            (function () {
              const picks = [...document.querySelectorAll('select.slice-pick')];
              function show(value) {
                picks.forEach(p => { p.value = value; });
                document.querySelectorAll('.slice-block').forEach(d => { d.hidden = d.dataset.slice !== value; });
              }
              picks.forEach(p => p.addEventListener('change', () => show(p.value)));
              show('0');
            })();
            </script>
            """;

    private final SparkSession spark;
    private final Map<String, Dataset<Row>> tables = new LinkedHashMap<>();
    private final TreeSet<Keys.Slice> slices = new TreeSet<>();

    SliceViews(SparkSession spark) {
        this.spark = spark;
    }

    /** A table with slice columns: all its rows, and the slices it has. */
    void add(String name, Dataset<Row> rows) {
        tables.put(name, rows);
        rows.select(Keys.Slice.COLUMN, Keys.Slice.VALUE_COLUMN).distinct().collectAsList().forEach(r -> slices.add(
                new Keys.Slice(r.getString(0), r.getString(1))));
    }

    /** Points every sliced table's temporary view at the rows of one slice. */
    void show(Keys.Slice slice) {
        tables.forEach((name, rows) -> rows.filter(functions.col(Keys.Slice.COLUMN).equalTo(slice.slice())
                .and(functions.col(Keys.Slice.VALUE_COLUMN).equalTo(slice.value()))).createOrReplaceTempView(name));
    }

    /** The slices the report shows: the whole corpus first, then by definition and value, at most {@link #MAX_SHOWN}. */
    List<Keys.Slice> shown() {
        List<Keys.Slice> all = new ArrayList<>(slices);
        return all.subList(0, Math.min(all.size(), MAX_SHOWN));
    }

    /**
     * A selector of the shown slices (when there is more than the whole corpus), then the section once per slice in a
     * block of its own; the views are back on the whole corpus afterwards.
     */
    void render(StringBuilder b, Runnable section) {
        List<Keys.Slice> shown = shown();
        if (shown.size() <= 1) {
            section.run();
            return;
        }
        b.append("<div class=\"controls\"><label>slice <select class=\"slice-pick\">");
        for (int i = 0; i < shown.size(); i++) {
            b.append("<option value=\"").append(i).append("\">").append(Html.escape(label(shown.get(i))))
                    .append("</option>");
        }
        b.append("</select></label>");
        if (slices.size() > shown.size()) {
            b.append(" <span class=\"note\">the first ").append(MAX_SHOWN).append(" of ").append(slices.size())
                    .append(" slices; the tables hold them all</span>");
        }
        b.append("</div>");
        for (int i = 0; i < shown.size(); i++) {
            show(shown.get(i));
            b.append("<div class=\"slice-block\" data-slice=\"").append(i).append("\">");
            section.run();
            b.append("</div>");
        }
        show(shown.get(0));
    }

    static String label(Keys.Slice slice) {
        return slice.slice().equals(Keys.Slice.ALL) ? "all samples" : slice.slice() + " = " + slice.value();
    }
}
