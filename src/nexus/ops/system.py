"""Host checks: disk space of the data directory, memory, and GPUs through NVML when there are any."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from nexus.config.settings import Settings
from nexus.ops.types import CheckResult, State, by_threshold, worst

GiB = 1024**3


class DiskCheck:
    name = "disk"

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.warn = settings.heartbeat_disk_warn_pct
        self.crit = settings.heartbeat_disk_crit_pct

    def measure(self) -> tuple[float, int]:
        """(percent used, bytes free) of the file system holding the data directory."""
        path = self.path if self.path.exists() else self.path.parent
        usage = shutil.disk_usage(path)
        return 100.0 * usage.used / usage.total, usage.free

    async def run(self) -> list[CheckResult]:
        pct, free = await asyncio.to_thread(self.measure)
        state = by_threshold(pct, self.warn, self.crit)
        detail = f"{pct:.1f}% used, {free / GiB:.1f} GiB free at {self.path}"
        return [CheckResult(self.name, state, detail, data={"used_pct": round(pct, 2), "free_bytes": free})]


class MemoryCheck:
    name = "memory"

    def __init__(self, settings: Settings) -> None:
        self.warn = settings.heartbeat_memory_warn_pct
        self.crit = settings.heartbeat_memory_crit_pct

    async def run(self) -> list[CheckResult]:
        import psutil

        vm = psutil.virtual_memory()
        state = by_threshold(vm.percent, self.warn, self.crit)
        detail = f"{vm.percent:.1f}% used, {vm.available / GiB:.1f} GiB available"
        return [
            CheckResult(self.name, state, detail, data={"used_pct": vm.percent, "available": vm.available})
        ]


class GpuCheck:
    """Per GPU (`gpu:<index>`): memory used and temperature. Skipped when NVML (the nvidia-ml-py package,
    `pip install nexus[gpu]`) or an NVIDIA driver is absent: most deployments have no GPU."""

    name = "gpu"

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def _read(self) -> list[CheckResult] | str:
        try:
            import pynvml
        except ImportError:
            return "NVML not installed (pip install 'nexus[gpu]')"
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            return f"no NVIDIA driver or GPU ({exc})"
        try:
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem: Any = pynvml.nvmlDeviceGetMemoryInfo(h)
                temp = float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
                pct = 100.0 * float(mem.used) / float(mem.total) if mem.total else 0.0
                s = self.s
                state: State = worst(
                    [
                        by_threshold(pct, s.heartbeat_gpu_memory_warn_pct, s.heartbeat_gpu_memory_crit_pct),
                        by_threshold(temp, s.heartbeat_gpu_temp_warn_c, s.heartbeat_gpu_temp_crit_c),
                    ]
                )
                name = pynvml.nvmlDeviceGetName(h)
                label = name.decode() if isinstance(name, bytes) else str(name)
                out.append(
                    CheckResult(
                        f"gpu:{i}",
                        state,
                        f"{label}: memory {pct:.0f}% used, {temp:.0f} °C",
                        data={"memory_pct": round(pct, 2), "temperature_c": temp, "name": label},
                    )
                )
            return out or "NVML sees no GPU"
        finally:
            pynvml.nvmlShutdown()

    async def run(self) -> list[CheckResult]:
        got = await asyncio.to_thread(self._read)
        if isinstance(got, str):
            return [CheckResult(self.name, "skipped", got)]
        return got
