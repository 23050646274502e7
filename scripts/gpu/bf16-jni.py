#!/usr/bin/env python3
"""Adds the bfloat16 type to DJL's PyTorch JNI source (DJL 0.35.1 maps only float32/64, float16 and integer types,
and terminates the JVM on any other), and a marker function the engine looks for before it uses bfloat16.

Usage: bf16-jni.py DJL_SOURCE_DIR   (the djl/ folder of ../shared/gpu/djl-jni-src-0.35.1.tar.gz)
DJL's DataType.BFLOAT16 has ordinal 11, which is what the Java side passes.
"""
import pathlib
import sys

native = pathlib.Path(sys.argv[1]) / "engines/pytorch/pytorch-native/src/main/native"
utils = native / "djl_pytorch_utils.h"
text = utils.read_text()
to_djl = "  } else if (torch::kComplexFloat == type) {\n    return 8;\n"
to_torch = "    case 8:\n      return torch::kComplexFloat;\n"
if "kBFloat16" not in text:
    if to_djl not in text or to_torch not in text:
        sys.exit("bf16-jni: " + str(utils) + " is not DJL 0.35.1's: the dtype mappings were not found")
    text = text.replace(to_djl, to_djl + "  } else if (torch::kBFloat16 == type) {\n    return 11;\n")
    text = text.replace(to_torch, to_torch + "    case 11:\n      return torch::kBFloat16;\n")
    utils.write_text(text)
tensor = native / "ai_djl_pytorch_jni_PyTorchLibrary_tensor.cc"
marker = 'extern "C" __attribute__((visibility("default"))) int atlas_djl_bfloat16() { return 1; }\n'
if marker not in tensor.read_text():
    with tensor.open("a") as f:
        f.write("\n// Attribution Atlas: this JNI maps DJL's BFLOAT16 (see io.attributionatlas.model.Precision).\n" + marker)
print("bf16-jni: patched", utils, "and", tensor)
