import pytest

from shufflenet.utils import host

ZEN5 = "flags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni amx_bf16 amx_tile amx_int8\n"
# an Emerald Rapids guest whose hypervisor hides AVX-512 BF16 and AMX: oneDNN calls bfloat16 "supported" and emulates it
XEON_GUEST = "flags\t\t: fpu avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni\n"
GRAVITON3 = "Features\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [(ZEN5, True), (SAPPHIRE_RAPIDS, True), (XEON_GUEST, False), ("flags\t: fpu avx2 fma\n", False),
     (GRAVITON3, True), ("Features\t: fp asimd\n", False), ("", None)],
)  # fmt: skip
def test_bfloat16_is_native_only_with_its_instructions(
    monkeypatch: pytest.MonkeyPatch, cpuinfo: str, native: bool | None
) -> None:
    monkeypatch.setattr(host, "read_cpuinfo", lambda: cpuinfo)
    assert host.cpu_bf16_native() is native
