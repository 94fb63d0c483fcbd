"""hardware.precision=auto picks bf16 only where the hardware computes it natively."""

from __future__ import annotations

from segtrain.runtime.precision import cpu_supports_bf16, resolve_precision

SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
EPYC_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_bf16_instructions_are_read_from_cpuinfo():
    assert cpu_supports_bf16(SAPPHIRE_RAPIDS)
    assert cpu_supports_bf16(GRAVITON3)
    assert not cpu_supports_bf16(EPYC_AVX2)
    assert not cpu_supports_bf16("")


def test_auto_on_cpu_is_bf16_only_with_native_bf16():
    assert resolve_precision("auto", "cpu", cpuinfo=SAPPHIRE_RAPIDS) == "bf16-mixed"
    assert resolve_precision("auto", "cpu", cpuinfo=EPYC_AVX2) == "32"


def test_auto_on_gpu_asks_the_engine_about_bf16():
    assert resolve_precision("auto", "gpu", lambda: True) == "bf16-mixed"
    assert resolve_precision("auto", "gpu", lambda: False) == "16-mixed"


def test_an_explicit_precision_is_kept():
    assert resolve_precision("bf16-mixed", "cpu", cpuinfo=EPYC_AVX2) == "bf16-mixed"
    assert resolve_precision("32", "gpu") == "32"
