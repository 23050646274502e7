package io.attributionatlas.report;

import java.util.Locale;

/** HTML building blocks: escaping (all corpus text goes through {@link #escape}) and colour scales. */
public final class Html {

    private Html() {
    }

    /** Escapes text for element content and quoted attribute values. */
    public static String escape(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /**
     * Diverging colour for {@code value} in [−scale, scale]: red for negative, white at 0, green for
     * positive (Captum's visualisation convention).
     */
    public static String diverging(double value, double scale) {
        double t = scale <= 0 || Double.isNaN(value) ? 0 : Math.max(-1, Math.min(1, value / scale));
        int r;
        int g;
        int b;
        if (t >= 0) {
            r = (int) Math.round(255 - t * (255 - 34));
            g = (int) Math.round(255 - t * (255 - 139));
            b = (int) Math.round(255 - t * (255 - 34));
        } else {
            r = (int) Math.round(255 - -t * (255 - 200));
            g = (int) Math.round(255 - -t * (255 - 30));
            b = (int) Math.round(255 - -t * (255 - 30));
        }
        return String.format(Locale.ROOT, "rgb(%d,%d,%d)", r, g, b);
    }

    /** Sequential colour for {@code value} in [0, scale]: white to dark blue. */
    public static String sequential(double value, double scale) {
        double t = scale <= 0 || Double.isNaN(value) ? 0 : Math.max(0, Math.min(1, value / scale));
        return String.format(Locale.ROOT, "rgb(%d,%d,%d)", (int) Math.round(255 - t * (255 - 8)),
                (int) Math.round(255 - t * (255 - 69)), (int) Math.round(255 - t * (255 - 148)));
    }

    static double maxAbs(float[][] values) {
        double m = 0;
        for (float[] row : values) {
            for (float v : row) {
                if (!Float.isNaN(v)) {
                    m = Math.max(m, Math.abs(v));
                }
            }
        }
        return m;
    }

    /**
     * An SVG heatmap with row and column labels and a colour legend. {@code diverging}: red–white–green
     * around 0 on a symmetric scale; otherwise white–blue from 0.
     */
    public static String heatmap(String title, String[] rowLabels, String[] columnLabels, float[][] values,
            boolean diverging) {
        int cell = 22;
        int left = 12 + 7 * maxLength(rowLabels);
        int top = 14 + (int) (5.2 * maxLength(columnLabels));
        // Column labels are rotated up and to the right: room for the last one's reach.
        int width = left + cell * columnLabels.length + 20 + (int) (2.6 * maxLength(columnLabels));
        int legendTop = top + cell * rowLabels.length + 18;
        int height = legendTop + 40;
        double scale = maxAbs(values);
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<figure class=\"heatmap\"><figcaption>%s</figcaption>"
                + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">",
                escape(title), Math.max(width, 260), height, escape(title)));
        for (int j = 0; j < columnLabels.length; j++) {
            int x = left + j * cell + cell / 2;
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-60 %d %d)\" "
                    + "class=\"axis\">%s</text>", x, top - 6, x, top - 6, escape(columnLabels[j])));
        }
        for (int i = 0; i < rowLabels.length; i++) {
            int y = top + i * cell;
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%s</text>",
                    left - 6, y + cell / 2 + 4, escape(rowLabels[i])));
            for (int j = 0; j < columnLabels.length; j++) {
                float v = values[i][j];
                s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
                        + "<title>%s, %s: %.4g</title></rect>", left + j * cell, y, cell - 1, cell - 1,
                        diverging ? diverging(v, scale) : sequential(v, scale), escape(rowLabels[i]),
                        escape(columnLabels[j]), v));
            }
        }
        s.append(legend(left, legendTop, scale, diverging));
        s.append("</svg></figure>");
        return s.toString();
    }

    /**
     * A horizontal bar chart: one bar per label, from a zero line, green for positive values and red for negative
     * ones (the attribution colours), each bar titled with its value.
     */
    public static String barChart(String title, String[] labels, double[] values) {
        int bar = 16;
        int left = 12 + 7 * Math.min(24, maxLength(labels));
        int plot = 260;
        int top = 8;
        double scale = 0;
        boolean negative = false;
        for (double v : values) {
            scale = Math.max(scale, Math.abs(v));
            negative |= v < 0;
        }
        int zero = left + (negative ? plot / 2 : 0);
        double half = negative ? plot / 2.0 : plot;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<figure class=\"bars\"><figcaption>%s"
                + "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                + "aria-label=\"%s\">", escape(title), left + plot + 70, top + bar * labels.length + 8, escape(title)));
        for (int i = 0; i < labels.length; i++) {
            int y = top + i * bar;
            double w = scale > 0 ? Math.abs(values[i]) / scale * half : 0;
            int x = (int) Math.round(values[i] < 0 ? zero - w : zero);
            String label = labels[i].length() > 24 ? labels[i].substring(0, 23) + "…" : labels[i];
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%s</text>"
                    + "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s: %.4g</title></rect>"
                    + "<text x=\"%d\" y=\"%d\" class=\"axis\">%.3g</text>", left - 6, y + bar - 4, escape(label), x, y + 2,
                    Math.max(1, Math.round(w)), bar - 4, diverging(values[i] == 0 ? 0 : Math.signum(values[i]) * 0.8, 1),
                    escape(labels[i]), values[i], left + plot + 6, y + bar - 4, values[i]));
        }
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>",
                zero, top, zero, top + bar * labels.length));
        return s.append("</svg></figure>").toString();
    }

    /** Colours of a chart's series, in order (the last, grey, for a chance-level series such as random). */
    private static final String[] SERIES = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
        "#e377c2", "#17becf", "#bcbd22"};

    /**
     * A line chart of several named series over the same x values, with points, axes, ticks and a legend; a series
     * named {@code dashed} is drawn dashed and grey (a chance level).
     */
    public static String lineChart(String title, String xLabel, double[] x, java.util.Map<String, double[]> series,
            String dashed) {
        int left = 46;
        int top = 10;
        int w = 300;
        int h = 180;
        double xMin = Double.POSITIVE_INFINITY;
        double xMax = Double.NEGATIVE_INFINITY;
        double yMin = 0;
        double yMax = 0;
        for (double v : x) {
            xMin = Math.min(xMin, v);
            xMax = Math.max(xMax, v);
        }
        for (double[] ys : series.values()) {
            for (double v : ys) {
                if (!Double.isNaN(v)) {
                    yMin = Math.min(yMin, v);
                    yMax = Math.max(yMax, v);
                }
            }
        }
        if (yMax == yMin) {
            yMax = yMin + 1;
        }
        double x0 = xMin;
        double xs = xMax > xMin ? w / (xMax - xMin) : 1;
        double y1 = yMax;
        double ys = h / (yMax - yMin);
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<figure class=\"lines\"><figcaption>%s"
                + "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                + "aria-label=\"%s\">", escape(title), left + w + 210, top + h + 40, escape(title)));
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
                + "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", left, top, left, top + h, left,
                top + h, left + w, top + h));
        for (double v : x) {
            int px = (int) Math.round(left + (v - x0) * xs);
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">%.3g"
                    + "</text>", px, top + h + 14, v));
        }
        for (double v : new double[] {yMin, (yMin + yMax) / 2, yMax}) {
            int py = (int) Math.round(top + (y1 - v) * ys);
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%.3g"
                    + "</text>", left - 4, py + 4, v));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">%s</text>",
                left + w / 2, top + h + 32, escape(xLabel)));
        int k = 0;
        int legend = 0;
        for (java.util.Map.Entry<String, double[]> e : series.entrySet()) {
            boolean chance = e.getKey().equals(dashed);
            String colour = chance ? "#999" : SERIES[k++ % SERIES.length];
            StringBuilder points = new StringBuilder();
            for (int i = 0; i < x.length; i++) {
                if (Double.isNaN(e.getValue()[i])) {
                    continue;
                }
                double px = left + (x[i] - x0) * xs;
                double py = top + (y1 - e.getValue()[i]) * ys;
                points.append(String.format(Locale.ROOT, "%.1f,%.1f ", px, py));
                s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, "
                        + "%.3g: %.4g</title></circle>", px, py, colour, escape(e.getKey()), x[i], e.getValue()[i]));
            }
            s.append(String.format(Locale.ROOT, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                    + "stroke-width=\"2\"%s/>", points.toString().trim(), colour, chance ? " stroke-dasharray=\"4 3\"" : ""));
            int ly = top + 12 + 16 * legend++;
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                    + "stroke-width=\"2\"%s/><text x=\"%d\" y=\"%d\" class=\"axis\">%s</text>", left + w + 14, ly - 4,
                    left + w + 34, ly - 4, colour, chance ? " stroke-dasharray=\"4 3\"" : "", left + w + 40, ly,
                    escape(e.getKey())));
        }
        return s.append("</svg></figure>").toString();
    }

    /** A horizontal colour bar with its end values. */
    static String legend(int x, int y, double scale, boolean diverging) {
        StringBuilder s = new StringBuilder();
        int steps = 20;
        int w = 8;
        for (int k = 0; k <= steps; k++) {
            double v = diverging ? -scale + 2 * scale * k / steps : scale * k / steps;
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"10\" fill=\"%s\"/>",
                    x + k * w, y, w, diverging ? diverging(v, scale) : sequential(v, scale)));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" class=\"axis\">%.3g</text>", x, y + 24,
                diverging ? -scale : 0.0));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%.3g</text>",
                x + (steps + 1) * w, y + 24, scale));
        if (diverging) {
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">0</text>",
                    x + (steps + 1) * w / 2, y + 24));
        }
        return s.toString();
    }

    private static int maxLength(String[] labels) {
        int m = 1;
        for (String l : labels) {
            m = Math.max(m, Math.min(l.length(), 24));
        }
        return m;
    }

    /** Controls and canvas of the head view; {@link #HEAD_VIEW_SCRIPT} fills and draws them. */
    static final String HEAD_VIEW_MARKUP = "<div class=\"controls\"><label>layer <select id=\"hv-layer\"></select>"
            + "</label><label>head <select id=\"hv-head\"></select></label><label>show <select id=\"hv-mode\">"
            + "</select></label></div><p class=\"note\">Lines go from each query token (left) to the key tokens (right)"
            + " it attends to; width and opacity follow the weight. Conductance lines are green for positive, red for"
            + " negative contributions to the first target.</p>"
            + "<svg id=\"hv\" xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"100\"></svg>";

    /**
     * BertViz-style head view, shared by the pages: {@code atlasHeadView(sample)} fills the selectors for a
     * sample {tokens, attention [L][H][S][S], conductance (optional, same shape)} and draws the chosen
     * layer, head (or the mean over heads) and quantity. Tokens are drawn with textContent.
     */
    static final String HEAD_VIEW_SCRIPT = """
            <script>
            function atlasHeadView(sample) {
              const ns = 'http://www.w3.org/2000/svg';
              const layerSel = document.getElementById('hv-layer');
              const headSel = document.getElementById('hv-head');
              const modeSel = document.getElementById('hv-mode');
              const svg = document.getElementById('hv');
              layerSel.replaceChildren(); headSel.replaceChildren(); modeSel.replaceChildren();
              sample.attention.forEach((_, l) => layerSel.add(new Option('layer ' + l, l)));
              headSel.add(new Option('all (mean)', -1));
              sample.attention[0].forEach((_, h) => headSel.add(new Option('head ' + h, h)));
              modeSel.add(new Option('attention', 'attention'));
              if (sample.conductance) modeSel.add(new Option('attention conductance', 'conductance'));
              if (sample.norms) modeSel.add(new Option('Kobayashi norms ‖αf(x)‖', 'norms'));
              function text(x, y, s, anchor) {
                const t = document.createElementNS(ns, 'text');
                t.setAttribute('x', x); t.setAttribute('y', y); t.setAttribute('text-anchor', anchor);
                t.setAttribute('class', 'axis'); t.style.fontSize = '13px'; t.textContent = s;
                svg.appendChild(t);
              }
              function draw() {
                svg.replaceChildren();
                const signed = modeSel.value === 'conductance';
                const src = signed ? sample.conductance : modeSel.value === 'norms' ? sample.norms : sample.attention;
                const l = +layerSel.value, h = +headSel.value, n = sample.tokens.length, heads = src[l].length;
                const m = h >= 0 ? src[l][h] : src[l][0].map((row, i) => row.map((_, j) =>
                  src[l].reduce((acc, head) => acc + head[i][j], 0) / heads));
                const rowH = 22, top = 20, xl = 170, xr = 390;
                svg.setAttribute('height', top + n * rowH + 10);
                let max = 0;
                m.forEach(r => r.forEach(v => { max = Math.max(max, Math.abs(v)); }));
                sample.tokens.forEach((tok, i) => {
                  text(xl - 8, top + i * rowH + 5, tok, 'end');
                  text(xr + 8, top + i * rowH + 5, tok, 'start');
                });
                m.forEach((row, i) => row.forEach((v, j) => {
                  const w = max > 0 ? Math.abs(v) / max : 0;
                  if (w < 0.02) return;
                  const line = document.createElementNS(ns, 'line');
                  line.setAttribute('x1', xl); line.setAttribute('y1', top + i * rowH);
                  line.setAttribute('x2', xr); line.setAttribute('y2', top + j * rowH);
                  line.setAttribute('stroke', signed ? (v >= 0 ? '#228b22' : '#c81e1e') : '#1f5fbf');
                  line.setAttribute('stroke-width', (0.5 + 3 * w).toFixed(2));
                  line.setAttribute('stroke-opacity', (0.15 + 0.85 * w).toFixed(2));
                  svg.appendChild(line);
                }));
              }
              [layerSel, headSel, modeSel].forEach(el => { el.onchange = draw; });
              draw();
            }
            </script>
            """;

    /** Controls and canvas of the neuron view; {@link #NEURON_VIEW_SCRIPT} fills and draws them. */
    static final String NEURON_VIEW_MARKUP = "<div class=\"controls\"><label>layer <select id=\"nv-layer\"></select>"
            + "</label><label>head <select id=\"nv-head\"></select></label><label>query <select id=\"nv-query\">"
            + "</select></label></div><p class=\"note\" id=\"nv-note\">For the chosen query token: its query vector q "
            + "(top), each key token's key vector k, their elementwise product q × k (blue positive, orange negative, "
            + "each column on the head's scale), the score q·k × scale plus the family's offset (relative positions, "
            + "a local window), and the attention after softmax, as BertViz's neuron view draws them.</p>"
            + "<canvas id=\"nv\" width=\"10\" height=\"10\"></canvas>";

    /**
     * BertViz-style neuron view: {@code atlasNeuronView(sample)} fills the selectors for a sample {tokens, queries
     * and keys [L][H][S][head size], score_offsets [L] of [H][S][S] or null, score_scale} and draws, for the chosen
     * layer, head and query, the vectors, their products, the scores and the softmax. Tokens are drawn as canvas
     * text (never parsed as HTML).
     */
    static final String NEURON_VIEW_SCRIPT = """
            <script>
            function atlasNeuronView(sample) {
              const layerSel = document.getElementById('nv-layer');
              const headSel = document.getElementById('nv-head');
              const querySel = document.getElementById('nv-query');
              const canvas = document.getElementById('nv');
              layerSel.replaceChildren(); headSel.replaceChildren(); querySel.replaceChildren();
              if (!sample.queries) {
                canvas.width = canvas.height = 1;
                document.getElementById('nv-note').textContent = 'This run did not copy query and key vectors.';
                return;
              }
              sample.queries.forEach((_, l) => layerSel.add(new Option('layer ' + l, l)));
              sample.queries[0].forEach((_, h) => headSel.add(new Option('head ' + h, h)));
              sample.tokens.forEach((t, i) => querySel.add(new Option(i + ': ' + t, i)));
              if (sample.tokens.length > 2) querySel.value = 1; // the first token after [CLS] / <s>
              function colour(v, scale) {
                const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
                return t >= 0 ? `rgb(${Math.round(255 - 224 * t)},${Math.round(255 - 140 * t)},255)`
                  : `rgb(255,${Math.round(255 + 100 * t)},${Math.round(255 + 225 * t)})`;
              }
              function draw() {
                const l = +layerSel.value, h = +headSel.value, i = +querySel.value;
                const q = sample.queries[l][h][i], keys = sample.keys[l][h], n = keys.length, d = q.length;
                const offsets = sample.score_offsets && sample.score_offsets[l] ? sample.score_offsets[l][h][i] : null;
                const products = keys.map(k => k.map((v, c) => v * q[c]));
                const scores = products.map((p, j) => p.reduce((a, b) => a + b, 0) * sample.score_scale
                  + (offsets ? offsets[j] : 0));
                const max = Math.max(...scores.filter(v => v > -1e30));
                const exps = scores.map(v => v > -1e30 ? Math.exp(v - max) : 0);
                const total = exps.reduce((a, b) => a + b, 0);
                const cw = Math.max(3, Math.min(8, Math.floor(256 / d))), rh = 18, top = 48, tok = 130, gap = 24;
                const xk = tok + 10, xp = xk + d * cw + gap, xs = xp + d * cw + gap, xa = xs + 140;
                canvas.width = xa + 170; canvas.height = top + (n + 1) * rh + 10;
                const ctx = canvas.getContext('2d');
                ctx.clearRect(0, 0, canvas.width, canvas.height);
                ctx.font = '12px system-ui, sans-serif'; ctx.fillStyle = '#333'; ctx.textBaseline = 'middle';
                [['key', tok, 'right'], ['k', xk, 'left'], ['q × k', xp, 'left'], ['q·k × scale + offset', xs, 'left'],
                 ['softmax', xa, 'left']].forEach(([t, x, a]) => { ctx.textAlign = a; ctx.fillText(t, x, 10); });
                const vScale = Math.max(...q.map(Math.abs), ...keys.flat().map(Math.abs));
                const pScale = Math.max(...products.flat().map(Math.abs));
                ctx.textAlign = 'right'; ctx.fillStyle = '#333';
                ctx.fillText('q of "' + sample.tokens[i] + '"', tok, top - rh + 8);
                q.forEach((v, c) => { ctx.fillStyle = colour(v, vScale); ctx.fillRect(xk + c * cw, top - rh, cw - 1, rh - 4); });
                keys.forEach((k, j) => {
                  const y = top + j * rh + 4;
                  ctx.fillStyle = j === i ? '#000' : '#333'; ctx.textAlign = 'right';
                  ctx.fillText(sample.tokens[j].slice(0, 18), tok, y + rh / 2 - 2);
                  k.forEach((v, c) => { ctx.fillStyle = colour(v, vScale); ctx.fillRect(xk + c * cw, y, cw - 1, rh - 4); });
                  products[j].forEach((v, c) => { ctx.fillStyle = colour(v, pScale); ctx.fillRect(xp + c * cw, y, cw - 1, rh - 4); });
                  ctx.fillStyle = '#333'; ctx.textAlign = 'left';
                  ctx.fillText(scores[j] > -1e30 ? scores[j].toFixed(2) : 'masked', xs, y + rh / 2 - 2);
                  const w = total > 0 ? exps[j] / total : 0;
                  ctx.fillStyle = '#1f5fbf'; ctx.fillRect(xa, y, Math.round(120 * w), rh - 4);
                  ctx.fillStyle = '#333'; ctx.fillText(w.toFixed(3), xa + 124, y + rh / 2 - 2);
                });
              }
              [layerSel, headSel, querySel].forEach(el => { el.onchange = draw; });
              draw();
            }
            </script>
            """;

    /** Inline stylesheet shared by the pages. */
    static final String STYLE = """
            body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#222;max-width:1200px}
            h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
            table.kv td{padding:2px 10px 2px 0;vertical-align:top}table.kv td:first-child{color:#666}
            .tokens{line-height:2.2;font-size:16px}.tok{padding:3px 4px;margin:1px;border-radius:3px;border:1px solid #eee}
            .axis{font-size:11px;fill:#333}figure{margin:8px 0 18px 0}figcaption{font-weight:600;margin-bottom:4px}
            .legend{display:flex;align-items:center;gap:6px;font-size:12px;color:#444;margin:6px 0}
            .legend span.bar{display:inline-block;width:160px;height:10px;background:linear-gradient(90deg,rgb(200,30,30),#fff,rgb(34,139,34))}
            .grid{display:flex;flex-wrap:wrap;gap:18px}.controls{margin:8px 0}select,label{font-size:14px;margin-right:10px}
            .note{color:#666;font-size:13px}
            """;
}
