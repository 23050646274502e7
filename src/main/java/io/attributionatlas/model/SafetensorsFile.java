package io.attributionatlas.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the safetensors format without any pickle: an 8-byte little-endian header length, a JSON
 * header mapping each tensor name to its dtype, shape and byte range, then raw little-endian data.
 * The header is fully validated on open; tensor data is read on demand and converted to F32.
 */
public final class SafetensorsFile {

    /** Element types this reader converts to F32. */
    public enum DType {
        F32(4), F16(2), BF16(2);

        final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /** One tensor's header entry; {@code dtypeName} is kept verbatim so unused tensors of any type can be listed. */
    public record TensorInfo(String name, String dtypeName, long[] shape, long begin, long end) {
        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private final Path path;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsFile(Path path, long dataStart, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.dataStart = dataStart;
        this.tensors = tensors;
    }

    public static SafetensorsFile open(Path path) {
        long fileSize;
        ByteBuffer header;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            fileSize = ch.size();
            if (fileSize < 8) {
                throw ModelException.inFile(path, "truncated safetensors file: " + fileSize
                        + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0);
            long headerLength = len.flip().getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES) {
                throw ModelException.inFile(path, "corrupt safetensors file: header length " + headerLength
                        + " is not between 1 and " + MAX_HEADER_BYTES + " bytes");
            }
            if (8 + headerLength > fileSize) {
                throw ModelException.inFile(path, "truncated safetensors file: header length " + headerLength
                        + " points past the end of the file (" + fileSize + " bytes)");
            }
            header = ByteBuffer.allocate((int) headerLength);
            readFully(ch, header, 8);
        } catch (NoSuchFileException e) {
            throw ModelException.inFile(path, "file not found");
        } catch (IOException e) {
            throw ModelException.inFile(path, "cannot read: " + e.getMessage());
        }
        long dataStart = 8 + header.capacity();
        long dataSize = fileSize - dataStart;
        String json = new String(header.array(), StandardCharsets.UTF_8);
        JsonElement parsed;
        try {
            parsed = JsonParser.parseString(json);
        } catch (RuntimeException e) {
            throw ModelException.inFile(path, "corrupt safetensors header: not a JSON object (" + e.getMessage() + ")");
        }
        if (!parsed.isJsonObject()) { // Gson's own message would quote the whole header
            throw ModelException.inFile(path, "corrupt safetensors header: not a JSON object");
        }
        JsonObject root = parsed.getAsJsonObject();
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : root.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                continue; // free-form strings (e.g. "format": "pt"); nothing the model needs
            }
            tensors.put(name, parseEntry(path, name, e.getValue(), dataSize));
        }
        return new SafetensorsFile(path, dataStart, Collections.unmodifiableMap(tensors));
    }

    private static TensorInfo parseEntry(Path path, String name, JsonElement value, long dataSize) {
        try {
            JsonObject o = value.getAsJsonObject();
            JsonElement dtypeJson = o.get("dtype");
            if (!dtypeJson.isJsonPrimitive() || !dtypeJson.getAsJsonPrimitive().isString()) {
                throw ModelException.atKey(path, name, "dtype must be a string, got " + dtypeJson);
            }
            String dtype = dtypeJson.getAsString();
            var shapeJson = o.getAsJsonArray("shape");
            long[] shape = new long[shapeJson.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = integer(path, name, shapeJson.get(i), "shape");
                if (shape[i] < 0) {
                    throw ModelException.atKey(path, name, "negative dimension in shape " + shapeJson);
                }
                // Unchecked, a product past 2^63 wraps and could match a small byte range.
                elements = multiplyOrMinusOne(elements, shape[i]);
                if (elements < 0) {
                    throw ModelException.atKey(path, name, "shape " + shapeJson + " has more than 2^63 elements");
                }
            }
            var offsets = o.getAsJsonArray("data_offsets");
            if (offsets.size() != 2) {
                throw ModelException.atKey(path, name, "data_offsets must be [begin, end], got " + offsets);
            }
            long begin = integer(path, name, offsets.get(0), "data_offsets");
            long end = integer(path, name, offsets.get(1), "data_offsets");
            if (begin < 0 || end < begin) {
                throw ModelException.atKey(path, name, "invalid data_offsets " + offsets);
            }
            if (end > dataSize) {
                throw ModelException.atKey(path, name, "data_offsets " + offsets
                        + " point past the end of the file (data section is " + dataSize + " bytes; file truncated?)");
            }
            TensorInfo info = new TensorInfo(name, dtype, shape, begin, end);
            DType known = dtypeOrNull(dtype);
            long expectedBytes = known == null ? -1 : multiplyOrMinusOne(elements, known.bytes);
            if (known != null && expectedBytes != end - begin) {
                throw ModelException.atKey(path, name, "byte range of " + (end - begin) + " bytes does not match "
                        + dtype + " shape " + java.util.Arrays.toString(shape)
                        + " (expected " + (expectedBytes < 0 ? "more than 2^63" : expectedBytes) + ")");
            }
            return info;
        } catch (ModelException e) {
            throw e;
        } catch (RuntimeException e) {
            throw ModelException.atKey(path, name, "corrupt safetensors header entry " + value
                    + " (expected {dtype, shape, data_offsets})");
        }
    }

    /** A header number that must be an integer: "64", 1.5 or 2^64 + 1 would otherwise read as some other long. */
    private static long integer(Path path, String name, JsonElement value, String key) {
        try {
            if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
                throw new NumberFormatException();
            }
            return value.getAsBigDecimal().longValueExact();
        } catch (ArithmeticException | NumberFormatException e) {
            throw ModelException.atKey(path, name, "expected integers below 2^63 in " + key + ", got " + value);
        }
    }

    /** a × b for non-negative a and b, or -1 past Long.MAX_VALUE. */
    private static long multiplyOrMinusOne(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    private static DType dtypeOrNull(String name) {
        for (DType d : DType.values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** Reads a tensor as F32, converting F16 and BF16; any other dtype is an error naming the key. */
    public float[] readFloats(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw ModelException.atKey(path, name, "no such tensor");
        }
        DType dtype = dtypeOrNull(info.dtypeName());
        if (dtype == null) {
            throw ModelException.atKey(path, name, "unsupported dtype " + info.dtypeName()
                    + " (expected F32, F16 or BF16)");
        }
        long bytes = info.end() - info.begin();
        if (bytes > Integer.MAX_VALUE) {
            throw ModelException.atKey(path, name, "tensor of " + bytes + " bytes is too large to read");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            readFully(ch, buf, dataStart + info.begin());
        } catch (IOException e) {
            throw ModelException.atKey(path, name, "cannot read tensor data: " + e.getMessage());
        }
        buf.flip();
        float[] out = new float[(int) info.elementCount()];
        switch (dtype) {
            case F32 -> buf.asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = halfToFloat(buf.getShort());
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
                }
            }
        }
        return out;
    }

    /** IEEE 754 binary16 to binary32, including subnormals, infinities and NaN. */
    static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            float value = mantissa / 1024f * (float) Math.pow(2, -14);
            return sign == 0 ? value : -value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + pos);
            }
            pos += n;
        }
    }

}
