"""``hardware.precision=auto``: the fastest precision this machine computes natively.

bf16 autocast pays off only where the processor has bf16 arithmetic: measured on a CPU
with AVX512-BF16/AMX it made DeepLabV3 steps 1.4-2.9x faster, while on an AVX2-only AMD
EPYC (no bf16 instructions, emulated) the demo's first epoch ran at 0.35 images/s instead
of ~11. So the CPU preset asks for ``auto``: bf16-mixed where ``/proc/cpuinfo`` lists
``avx512_bf16`` or ``amx_bf16`` (x86) or ``bf16`` (Arm), float32 elsewhere. On a GPU,
``auto`` is bf16-mixed where the engine says the GPU supports it, else 16-mixed.
Framework-free: each engine passes its own GPU check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

AUTO = "auto"
CPUINFO = Path("/proc/cpuinfo")
_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


def cpu_supports_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU lists a native bf16 instruction set (False when unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features") and _BF16_FLAGS & set(value.split()):
            return True
    return False


def resolve_precision(
    precision: str,
    accelerator: str,
    gpu_supports_bf16: Callable[[], bool] = lambda: True,
    cpuinfo: str | None = None,
) -> str:
    """``precision`` unless it is ``auto``; then the native choice for ``accelerator``."""
    if str(precision) != AUTO:
        return str(precision)
    if accelerator == "gpu":
        return "bf16-mixed" if gpu_supports_bf16() else "16-mixed"
    return "bf16-mixed" if cpu_supports_bf16(cpuinfo) else "32"
