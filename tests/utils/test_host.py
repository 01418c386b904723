import pytest
import torch

from shufflenet.utils import host

ZEN5 = "flags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 fma avx512f avx512bw avx512_vnni amx_bf16 amx_tile amx_int8\n"
# an Emerald Rapids guest whose hypervisor hides AVX-512 BF16 and AMX: oneDNN calls bfloat16 "supported" and emulates it
XEON_GUEST = "flags\t\t: fpu avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni\n"
GRAVITON3 = "Features\t: fp asimd sve bf16 i8mm\n"


SAPPHIRE_RAPIDS_FP16 = SAPPHIRE_RAPIDS.replace("amx_int8", "amx_int8 avx512_fp16")
GRAVITON3_FP16 = GRAVITON3.replace("asimd", "asimd asimdhp")


@pytest.mark.parametrize(
    ("cpuinfo", "bf16", "fp16"),
    [(ZEN5, True, False), (SAPPHIRE_RAPIDS, True, False), (SAPPHIRE_RAPIDS_FP16, True, True), (XEON_GUEST, False, False),
     ("flags\t: fpu avx2 fma\n", False, False), (GRAVITON3, True, False), (GRAVITON3_FP16, True, True),
     ("Features\t: fp asimd\n", False, False), ("", None, None)],
)  # fmt: skip
def test_a_reduced_precision_is_native_only_with_its_instructions(
    monkeypatch: pytest.MonkeyPatch, cpuinfo: str, bf16: bool | None, fp16: bool | None
) -> None:
    monkeypatch.setattr(host, "read_cpuinfo", lambda: cpuinfo)
    assert (host.cpu_native("bfloat16"), host.cpu_native("float16")) == (bf16, fp16)
    for precision, native in (("bfloat16", bf16), ("float16", fp16)):
        note = host.emulated_precision(precision, torch.device("cpu"))
        if native is not None:  # else oneDNN's answer (below)
            assert (note is not None) is (not native)
        units = {"bfloat16": "BF16", "float16": "FP16"}[precision]
        arm = cpuinfo.startswith("Features")
        assert note is None or note.startswith(f"{precision} on this CPU (it has no {'' if arm else 'AVX-512 '}{units}")
    assert host.emulated_precision("float32", torch.device("cpu")) is None


def test_without_cpu_flags_native_is_onednns_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux /proc/cpuinfo says nothing; both reduced precisions then ask oneDNN (it counts emulated bfloat16 on
    AVX-512 as supported, so that is the one case left unwarned)."""
    monkeypatch.setattr(host, "read_cpuinfo", lambda: "")
    cpu, mkldnn = torch.device("cpu"), torch.ops.mkldnn
    assert host.native_precision("bfloat16", cpu) is bool(mkldnn._is_mkldnn_bf16_supported())
    assert host.native_precision("float16", cpu) is bool(mkldnn._is_mkldnn_fp16_supported())
    assert host.native_precision("float32", cpu) is True


@pytest.mark.parametrize(
    ("name", "major", "minor", "auto"),
    [("Tesla P100", 6, 0, "float32"), ("Tesla V100", 7, 0, "float16"), ("Tesla T4", 7, 5, "float16"),
     ("A100", 8, 0, "bfloat16"), ("H200", 9, 0, "bfloat16")],
)  # fmt: skip
def test_a_gpu_computes_bfloat16_from_ampere_on(
    monkeypatch: pytest.MonkeyPatch, name: str, major: int, minor: int, auto: str
) -> None:
    """torch.cuda.is_bf16_supported() says yes on a T4 (it emulates); the compute capability says what is native,
    and --precision auto takes float16 where tensor cores have it but not bfloat16."""
    from types import SimpleNamespace

    from shufflenet.train.loop import resolve_precision

    gpu, native = torch.device("cuda"), major >= 8
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(name=name, major=major,
                                                                                        minor=minor))  # fmt: skip
    monkeypatch.setattr(torch.version, "hip", None)
    assert host.gpu_native("bfloat16", gpu) is native and host.gpu_native("float16", gpu)
    assert resolve_precision("auto", gpu) == auto
    assert resolve_precision("float16", gpu) == "float16"
    note = host.emulated_precision("bfloat16", gpu)
    assert note == (None if native else f"bfloat16 on {name} (compute capability {major}.{minor}; GPUs have it "
                    "from 8.0, Ampere) is emulated by PyTorch, slower than float32")  # fmt: skip
    if not native:
        with pytest.raises(ValueError, match=rf"^bfloat16 on {name} \(compute .* float32: train with --precision"):
            resolve_precision("bfloat16", gpu)


def test_available_memory_is_linuxs_memavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "_proc", lambda name: "MemTotal:  8192 kB\nMemAvailable:    2048 kB\n")
    assert host.available_memory() == 2048 * 1024
    monkeypatch.setattr(host, "_proc", lambda name: "")  # off Linux: unknown, and no check refuses anything
    assert host.available_memory() is None


def test_stolen_share_is_the_hypervisors_part_of_the_cpu_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
    monkeypatch.setattr(
        host, "read_proc_stat", lambda: "cpu  100 0 20 800 0 0 0 80 0 0\ncpu0 50 0 10 400 0 0 0 40 0 0\n"
    )
    start = host.cpu_steal_counters()
    assert start == (80, 1000)
    monkeypatch.setattr(host, "read_proc_stat", lambda: "cpu  300 0 20 800 0 0 0 380 0 0\n")
    assert host.stolen_share(start, host.cpu_steal_counters()) == pytest.approx(0.6)  # 300 of 500 ticks
    assert host.stolen_share(start, start) is None  # no time passed
    monkeypatch.setattr(host, "read_proc_stat", lambda: "")  # off Linux
    assert host.cpu_steal_counters() is None and host.stolen_share(start, None) is None


def test_a_training_record_and_a_benchmark_name_the_host_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    from shufflenet.bench import machine

    monkeypatch.setattr(host, "read_cpuinfo", lambda: "model name\t: AMD EPYC\ncpu family\t: 26\nmodel\t\t: 2\n" + ZEN5)
    line, record = host.describe_host(), machine.machine_info.__wrapped__()
    assert line.endswith(f"-core AMD EPYC, family 26 model 2 (avx2 fma avx512f avx512_vnni avx512_bf16 avx_vnni); "
                         f"{record['gpu'] or 'no GPU'}; torch {record['torch']}")  # fmt: skip
    assert {k: record[k] for k in ("cpu", "cpu_flags")} == {
        "cpu": "AMD EPYC, family 26 model 2", "cpu_flags": "avx2 fma avx512f avx512_vnni avx512_bf16 avx_vnni"}  # fmt: skip
    monkeypatch.setattr(host, "read_cpuinfo", lambda: "")  # off Linux: no flags, no brackets
    assert "()" not in host.describe_host()
