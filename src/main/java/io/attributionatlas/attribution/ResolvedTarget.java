package io.attributionatlas.attribution;

/**
 * One target F of one sample, resolved against the prediction.
 *
 * @param name class, start or end
 * @param index the class index (class) or the token position (start, end) at the input
 * @param label the class label, or the token at the position
 */
record ResolvedTarget(String name, int index, String label) {

    boolean isStart() {
        return name.equals("start");
    }
}
