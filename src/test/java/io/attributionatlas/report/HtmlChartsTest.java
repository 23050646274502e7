package io.attributionatlas.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The report's SVG charts: one mark per value, corpus text escaped, a chance series drawn dashed. */
class HtmlChartsTest {

    private static int count(String s, String part) {
        return s.split(java.util.regex.Pattern.quote(part), -1).length - 1;
    }

    @Test
    void barChartDrawsABarPerTokenAndEscapesTheTokens() {
        String svg = Html.barChart("Top tokens for <b>pos</b>", new String[] {"<script>x</script>", "good", "bad"},
                new double[] {0.5, 0.25, -0.125});
        assertEquals(3, count(svg, "<rect "));
        assertFalse(svg.contains("<script>") || svg.contains("<b>"), svg);
        assertTrue(svg.contains("&lt;script&gt;x&lt;/script&gt;"));
        assertTrue(svg.contains("width=\"65\"") && svg.contains("width=\"130\""), "bars scale with |value|: " + svg);
    }

    @Test
    void lineChartDrawsEverySeriesWithItsPointsAndTheChanceLevelDashed() {
        Map<String, double[]> series = new LinkedHashMap<>();
        series.put("occlusion", new double[] {0.1, 0.2, 0.4});
        series.put("lime", new double[] {0.05, Double.NaN, 0.3});
        series.put("random", new double[] {0.01, 0.02, 0.05});
        String svg = Html.lineChart("Comprehensiveness", "k", new double[] {0.1, 0.2, 0.5}, series, "random");
        assertEquals(3, count(svg, "<polyline "));
        assertEquals(8, count(svg, "<circle "), "a point per value, none for NaN");
        assertEquals(2, count(svg, "stroke-dasharray"), "random's line and its legend entry are dashed");
    }
}
