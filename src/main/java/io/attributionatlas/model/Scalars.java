package io.attributionatlas.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Scalar constants as 0-dimensional tensors on a device, created once per (device, type, value) for the JVM's
 * life. DJL's operations with a Java number ({@code x.mul(0.5f)}) wrap the number in a fresh tensor on the
 * operand's device every time: on a GPU that is a copy from host memory, which waits until every queued kernel
 * has finished, so a few of them per layer made the engine host-bound. These tensors are shared by all threads
 * (read-only) and outlive any backward pass that saved them.
 */
public final class Scalars {

    private static final Map<Device, NDManager> MANAGERS = new ConcurrentHashMap<>();
    private static final Map<Key, NDArray> CACHE = new ConcurrentHashMap<>();

    private record Key(Device device, boolean integer, long bits) {
    }

    private Scalars() {
    }

    /** A float32 scalar on {@code like}'s device. */
    public static NDArray of(NDArray like, float value) {
        return of(like.getDevice(), value);
    }

    /** A float32 scalar on {@code device}. */
    public static NDArray of(Device device, float value) {
        return CACHE.computeIfAbsent(new Key(device, false, Float.floatToIntBits(value)),
                k -> kept(manager(device).create(value)));
    }

    /** An int64 scalar on {@code like}'s device (for arithmetic on ids and positions). */
    public static NDArray ofLong(NDArray like, long value) {
        Device device = like.getDevice();
        return CACHE.computeIfAbsent(new Key(device, true, value), k -> kept(manager(device).create(value)));
    }

    /** Out of any {@link ai.djl.ndarray.NDScope} the caller is in: a cached scalar must outlive it. */
    private static NDArray kept(NDArray scalar) {
        ai.djl.ndarray.NDScope.unregister(scalar);
        return scalar;
    }

    private static NDManager manager(Device device) {
        return MANAGERS.computeIfAbsent(device, d -> {
            OfflineEngine.ensure();
            return NDManager.newBaseManager(d, "PyTorch");
        });
    }
}
