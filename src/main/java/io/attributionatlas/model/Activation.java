package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import java.util.Locale;

/** Hidden activations by their config.json names, with the same formulas as Hugging Face's ACT2FN. */
public enum Activation {
    /** Exact GELU: x · Φ(x) = ½x(1 + erf(x/√2)). */
    GELU {
        @Override
        public NDArray apply(NDArray x) {
            return x.mul(x.div(Math.sqrt(2.0)).erf().add(1f)).mul(0.5f);
        }
    },
    /** Tanh approximation ("gelu_new", "gelu_pytorch_tanh"). */
    GELU_NEW {
        @Override
        public NDArray apply(NDArray x) {
            NDArray inner = x.add(x.pow(3).mul(0.044715f)).mul((float) Math.sqrt(2.0 / Math.PI));
            return x.mul(inner.tanh().add(1f)).mul(0.5f);
        }
    },
    RELU {
        @Override
        public NDArray apply(NDArray x) {
            return x.maximum(0f);
        }
    },
    TANH {
        @Override
        public NDArray apply(NDArray x) {
            return x.tanh();
        }
    };

    public abstract NDArray apply(NDArray x);

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
