package io.attributionatlas.attribution;

import java.util.List;
import java.util.function.BiFunction;

/**
 * What a perturbation method needs evaluated for one sample and target, and how its result follows: the masks of
 * its perturbed copies (true = the token replaced by the baseline), whether it also needs F at the input, and the
 * result from F(x) (NaN when not needed) and F on each copy. Plans of many samples run together in one
 * {@link PerturbationBatch}.
 */
public record PerturbationPlan<T>(List<boolean[]> masks, boolean usesOriginal, BiFunction<Double, double[], T> finish) {
}
