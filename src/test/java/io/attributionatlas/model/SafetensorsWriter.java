package io.attributionatlas.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes safetensors files for tests: F32, F16 and BF16 from floats, or raw bytes of any dtype. */
final class SafetensorsWriter {

    /** A tensor to write: either {@code values} encoded as {@code dtype}, or {@code raw} bytes. */
    record Tensor(String dtype, long[] shape, float[] values, byte[] raw) {
        static Tensor of(String dtype, long[] shape, float[] values) {
            return new Tensor(dtype, shape, values, null);
        }

        byte[] bytes() {
            if (raw != null) {
                return raw;
            }
            int width = dtype.equals("F32") ? 4 : 2;
            ByteBuffer b = ByteBuffer.allocate(values.length * width).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) {
                switch (dtype) {
                    case "F32" -> b.putFloat(v);
                    case "F16" -> b.putShort(floatToHalf(v));
                    case "BF16" -> b.putShort(floatToBfloat16(v));
                    default -> throw new IllegalArgumentException(dtype);
                }
            }
            return b.array();
        }
    }

    private SafetensorsWriter() {
    }

    static void write(Path file, Map<String, Tensor> tensors) throws IOException {
        JsonObject header = new JsonObject();
        Map<String, byte[]> data = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            byte[] bytes = e.getValue().bytes();
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", e.getValue().dtype());
            JsonArray shape = new JsonArray();
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            entry.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + bytes.length);
            entry.add("data_offsets", offsets);
            header.add(e.getKey(), entry);
            data.put(e.getKey(), bytes);
            offset += bytes.length;
        }
        writeRaw(file, header.toString(), data.values());
    }

    /** Writes a file with this exact header text and data (for corrupt-file tests). */
    static void writeRaw(Path file, String headerJson, Iterable<byte[]> data) throws IOException {
        byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            for (byte[] d : data) {
                out.write(d);
            }
        }
    }

    /** Round-to-nearest-even binary32 → binary16 (normal and subnormal range; overflow to infinity). */
    static short floatToHalf(float f) {
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        if (((bits >>> 23) & 0xff) == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
        }
        if (exp >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (exp <= 0) {
            if (exp < -10) {
                return (short) sign;
            }
            mant |= 0x800000;
            int shift = 14 - exp;
            int half = mant >>> shift;
            int rem = mant & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) == 1)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (exp << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }

    static short floatToBfloat16(float f) {
        int bits = Float.floatToIntBits(f);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
