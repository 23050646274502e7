package io.attributionatlas.layout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package graph of src/main has floors: no package reaches back to one that reaches it (no cycles), and the
 * registries' plug-ins ({@code model.family}, {@code attribution.method}) are reached by nothing but the
 * ServiceLoader, so adding a family or a method adds no arrow. References count as imports and as fully qualified
 * names in code.
 */
class PackageGraphTest {

    private static final Path MAIN = Path.of("src/main/java/io/attributionatlas");
    private static final Pattern REFERENCE = Pattern.compile("io\\.attributionatlas\\.([a-z.]+)\\.[A-Z]");

    static Map<String, Set<String>> graph() throws IOException {
        Map<String, Set<String>> arrows = new TreeMap<>();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(MAIN)) {
            files = walk.filter(p -> p.toString().endsWith(".java")).toList();
        }
        for (Path file : files) {
            String from = MAIN.relativize(file.getParent()).toString().replace('/', '.');
            Set<String> to = arrows.computeIfAbsent(from, k -> new TreeSet<>());
            Matcher m = REFERENCE.matcher(Files.readString(file));
            while (m.find()) {
                if (!m.group(1).equals(from)) {
                    to.add(m.group(1));
                }
            }
        }
        return arrows;
    }

    @Test
    void packagesFormFloorsWithoutCycles() throws IOException {
        Map<String, Set<String>> arrows = graph();
        Map<String, Integer> floor = new TreeMap<>();
        for (String p : arrows.keySet()) {
            floor(p, arrows, floor, new ArrayList<>());
        }
        assertTrue(floor.keySet().containsAll(List.of("schema", "model", "model.family", "attribution",
                "attribution.sweep", "attribution.method", "analysis", "job", "report", "cli")), floor.toString());
        for (String plugIn : List.of("model.family", "attribution.method")) {
            arrows.forEach((from, to) -> assertTrue(!to.contains(plugIn) || from.startsWith(plugIn),
                    from + " reaches " + plugIn + ", which only the registry should load"));
        }
        assertTrue(floor.get("model") < floor.get("model.family"), floor.toString());
        assertTrue(floor.get("attribution.sweep") < floor.get("attribution"), floor.toString());
        assertTrue(floor.get("attribution") < floor.get("attribution.method"), floor.toString());
        assertEquals(1, (int) floor.get("schema"), "schema is a floor of its own at the bottom: " + floor);
    }

    /** 1 + the highest floor it reaches (1 for none); a package met again on the path is a cycle. */
    private static int floor(String p, Map<String, Set<String>> arrows, Map<String, Integer> floor, List<String> path) {
        if (floor.containsKey(p)) {
            return floor.get(p);
        }
        assertTrue(!path.contains(p), "cycle: " + String.join(" -> ", path) + " -> " + p);
        path.add(p);
        int f = 1;
        for (String q : arrows.getOrDefault(p, Set.of())) {
            f = Math.max(f, 1 + floor(q, arrows, floor, path));
        }
        path.remove(path.size() - 1);
        floor.put(p, f);
        return f;
    }
}
