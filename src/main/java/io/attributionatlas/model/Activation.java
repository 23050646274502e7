package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import java.util.Locale;

/**
 * Hidden activations by their config.json names, with the same formulas as Hugging Face's ACT2FN.
 * Constants are tensors of the input's manager, never Java numbers: see {@link #constant}.
 */
public enum Activation {
    /** Exact GELU: x · Φ(x) = ½x(1 + erf(x/√2)). */
    GELU {
        @Override
        public NDArray apply(NDArray x) {
            // PyTorch's own kernel (as HF's nn.functional.gelu): autograd saves only its input.
            return ai.djl.nn.Activation.gelu(x);
        }
    },
    /** Tanh approximation ("gelu_new", "gelu_pytorch_tanh"). */
    GELU_NEW {
        @Override
        public NDArray apply(NDArray x) {
            NDArray cube = x.mul(x).mul(x);
            NDArray inner = x.add(cube.mul(constant(x, 0.044715f))).mul(constant(x, (float) Math.sqrt(2.0 / Math.PI)));
            return x.mul(inner.tanh().add(constant(x, 1f))).mul(constant(x, 0.5f));
        }
    },
    RELU {
        @Override
        public NDArray apply(NDArray x) {
            return x.maximum(constant(x, 0f));
        }
    },
    TANH {
        @Override
        public NDArray apply(NDArray x) {
            return x.tanh();
        }
    };

    public abstract NDArray apply(NDArray x);

    /**
     * A scalar constant for use inside a differentiated graph, from {@link Scalars}. DJL's {@code x.mul(Number)}
     * wraps the number in a tensor over a direct buffer and closes it right after the op; autograd keeps that
     * tensor for the backward pass, and once the garbage collector frees the buffer the backward pass reads freed
     * memory (NaN or garbage gradients); on a GPU it is also a host-to-device copy that waits for the queued work.
     * A cached scalar lives as long as the JVM.
     */
    public static NDArray constant(NDArray like, float value) {
        return Scalars.of(like, value);
    }

    public static Activation fromConfigName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "gelu" -> GELU;
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> GELU_NEW;
            case "relu" -> RELU;
            case "tanh" -> TANH;
            default -> null;
        };
    }
}
