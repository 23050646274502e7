package io.attributionatlas.job;

import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.attribution.SampleAttribution;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.ObjIntConsumer;

/**
 * Where a task's batches are explained. {@link #direct}: on the task's own thread, through the executor's shared
 * explainer (CPU executors: each task's passes use its share of the cores). {@link #queued}: one engine thread per
 * executor JVM and device, fed by one queue: the batches that tasks sharing a GPU have queued by the time the
 * engine is free run as one call, so its passes stay full however many task slots feed it.
 */
abstract class BatchEngine {

    /** What a call cost the engine: its busy seconds (time in the caller's sink excluded), and of those the reductions'. */
    record Charge(double engineSeconds, double reductionSeconds) {
    }

    /**
     * Explains {@code samples}, handing each result to {@code sink} with its index as soon as it is done; returns what
     * the call cost the engine. A failure of the engine is thrown (the caller retries what was not handed over).
     */
    abstract Charge attribute(List<Sample> samples, ObjIntConsumer<SampleAttribution> sink);

    static BatchEngine direct(Explainer explainer) {
        return new BatchEngine() {
            @Override
            Charge attribute(List<Sample> samples, ObjIntConsumer<SampleAttribution> sink) {
                double reductions = explainer.reductionSeconds();
                long[] inSink = {0};
                long t0 = System.nanoTime();
                explainer.attribute(samples, (result, i) -> {
                    long s0 = System.nanoTime();
                    sink.accept(result, i);
                    inSink[0] += System.nanoTime() - s0;
                });
                return new Charge((System.nanoTime() - t0 - inSink[0]) / 1e9,
                        explainer.reductionSeconds() - reductions);
            }
        };
    }

    /** The executor's engine thread for {@code explainer}, taking up to {@code samplesPerCall} samples a call. */
    static BatchEngine queued(Explainer explainer, int samplesPerCall) {
        return new Queued(explainer, samplesPerCall);
    }

    /** One engine thread and its queue; the thread lives as long as the JVM, like the explainer it runs. */
    private static final class Queued extends BatchEngine {
        private final Explainer explainer;
        private final int samplesPerCall;
        private final BlockingQueue<Request> queue = new LinkedBlockingQueue<>();

        /** A task's batch: done when every sample is handed over, or the call it was part of failed. */
        private static final class Request {
            final List<Sample> samples;
            final ObjIntConsumer<SampleAttribution> sink;
            final CountDownLatch done = new CountDownLatch(1);
            volatile RuntimeException failure;
            volatile Charge charge;

            Request(List<Sample> samples, ObjIntConsumer<SampleAttribution> sink) {
                this.samples = samples;
                this.sink = sink;
            }
        }

        Queued(Explainer explainer, int samplesPerCall) {
            this.explainer = explainer;
            this.samplesPerCall = Math.max(1, samplesPerCall);
            Thread thread = new Thread(this::serve, "atlas-engine-" + explainer.model().manager().getDevice());
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        Charge attribute(List<Sample> samples, ObjIntConsumer<SampleAttribution> sink) {
            Request request = new Request(samples, sink);
            queue.add(request);
            try {
                request.done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the executor's engine explained this task's batch", e);
            }
            if (request.failure != null) {
                throw request.failure;
            }
            return request.charge;
        }

        private void serve() {
            while (true) {
                List<Request> group = new ArrayList<>();
                try {
                    group.add(queue.take());
                } catch (InterruptedException e) {
                    return;
                }
                int total = group.get(0).samples.size();
                Request next;
                while (total < samplesPerCall && (next = queue.poll()) != null) {
                    group.add(next);
                    total += next.samples.size();
                }
                run(group, total);
            }
        }

        /**
         * One call over the group's samples; each result goes to its task's sink. A sink that fails fails only its
         * own task; an engine failure fails every task of the call, and each retries its own samples.
         */
        private void run(List<Request> group, int total) {
            List<Sample> samples = new ArrayList<>(total);
            int[] owner = new int[total];
            int[] offset = new int[group.size()];
            for (int k = 0; k < group.size(); k++) {
                offset[k] = samples.size();
                for (int i = 0; i < group.get(k).samples.size(); i++) {
                    owner[samples.size()] = k;
                    samples.add(group.get(k).samples.get(i));
                }
            }
            double reductions = explainer.reductionSeconds();
            long[] inSinks = {0};
            long t0 = System.nanoTime();
            try {
                explainer.attribute(samples, (result, i) -> {
                    Request r = group.get(owner[i]);
                    if (r.failure != null) {
                        return;
                    }
                    long s0 = System.nanoTime();
                    try {
                        r.sink.accept(result, i - offset[owner[i]]);
                    } catch (RuntimeException e) {
                        r.failure = e;
                    }
                    inSinks[0] += System.nanoTime() - s0;
                });
            } catch (RuntimeException | Error e) { // the thread must live on: every later task needs it
                RuntimeException failure = e instanceof RuntimeException r ? r
                        : new IllegalStateException("the executor's engine failed: " + e, e);
                group.forEach(r -> r.failure = r.failure != null ? r.failure : failure);
            } finally {
                double busy = (System.nanoTime() - t0 - inSinks[0]) / 1e9;
                double reduced = explainer.reductionSeconds() - reductions;
                for (Request r : group) { // each task is charged its share of the call, by samples
                    double share = r.samples.size() / (double) total;
                    r.charge = new Charge(busy * share, reduced * share);
                    r.done.countDown();
                }
            }
        }
    }
}
