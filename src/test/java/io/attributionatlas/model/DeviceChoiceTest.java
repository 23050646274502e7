package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import java.util.List;
import org.junit.jupiter.api.Test;

/** --device / engine.device: parsing, and the choice between Spark's assignment, visible GPUs and the CPU. */
class DeviceChoiceTest {

    @Test
    void parsesEveryFormAndRejectsOthersByName() {
        assertEquals(DeviceChoice.AUTO, DeviceChoice.parse("auto"));
        assertEquals(DeviceChoice.Kind.CPU, DeviceChoice.parse("CPU").kind());
        assertEquals(new DeviceChoice(DeviceChoice.Kind.GPU, -1), DeviceChoice.parse("gpu"));
        assertEquals(new DeviceChoice(DeviceChoice.Kind.GPU, 3), DeviceChoice.parse(" gpu:3 "));
        for (String bad : List.of("tpu", "gpu:", "gpu:-1", "gpu:x", "")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceChoice.parse(bad));
            assertTrue(e.getMessage().contains("expected auto, cpu, gpu or gpu:N"), e.getMessage());
        }
    }

    @Test
    void autoTakesSparksGpuThenAVisibleOneThenTheCpu() {
        assertEquals(Device.gpu(1), DeviceChoice.AUTO.resolve(2, List.of("1")));
        assertEquals(Device.gpu(0), DeviceChoice.AUTO.resolve(2, List.of()));
        assertEquals(Device.cpu(), DeviceChoice.AUTO.resolve(0, List.of()));
        assertEquals(Device.cpu(), DeviceChoice.AUTO.resolve(0, List.of("0")), "assigned, but this libtorch has no CUDA");
    }

    @Test
    void gpuNeverFallsBackToTheCpu() {
        DeviceChoice gpu = DeviceChoice.parse("gpu");
        assertEquals(Device.gpu(1), gpu.resolve(2, List.of("1")));
        assertEquals(Device.gpu(0), gpu.resolve(1, List.of()));
        assertEquals(Device.gpu(1), DeviceChoice.parse("gpu:1").resolve(2, List.of("0")), "gpu:N is that GPU");
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> gpu.resolve(0, List.of()));
        assertTrue(none.getMessage().contains("a GPU was asked for, but PyTorch sees no GPU"), none.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> DeviceChoice.parse("gpu:2").resolve(2, List.of()));
        assertTrue(missing.getMessage().contains("GPU 2 was asked for, but PyTorch sees 2 GPU(s)"), missing.getMessage());
        assertEquals(Device.cpu(), DeviceChoice.parse("cpu").resolve(4, List.of("1")), "cpu even when Spark gives a GPU");
    }

    @Test
    void thisMachinesCpuBuildSeesNoGpu() {
        // CI has no GPU and the project's libtorch is the CPU build: auto is the CPU, gpu fails at once.
        assertEquals(0, DeviceChoice.visibleGpus());
        assertEquals(Device.cpu(), DeviceChoice.AUTO.resolve());
        assertThrows(IllegalArgumentException.class, () -> DeviceChoice.parse("gpu").resolve());
    }
}
