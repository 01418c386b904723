"""This machine as a record names it: the CPU, its vector extensions, the GPU, the library versions.

Below every room that writes a record (a benchmark's, a training checkpoint's): a figure means nothing without the
host it was measured on.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "available_memory",
    "cpu_flags",
    "cpu_name",
    "cpu_native",
    "cpu_steal_counters",
    "describe_host",
    "emulated_precision",
    "gpu_native",
    "host_facts",
    "native_precision",
    "output",
    "read_cpuinfo",
    "read_proc_stat",
    "stolen_share",
]


def _field(text: str, key: str) -> str | None:
    """The value of the first ``key : value`` line of ``text`` (/proc/cpuinfo, lscpu)."""
    m = re.search(rf"^{re.escape(key)}\s*:\s*(.+?)\s*$", text, re.M)
    return m.group(1) if m else None


def output(argv: list[str]) -> str:
    """What a system command prints, or "" where it is missing or fails (a record is made without it)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_name(cpuinfo: str | None = None, lscpu: str | None = None) -> str:
    """This CPU as a record names it. A virtual machine's x86 model name is often a brand only ("AMD EPYC"
    on Zen 2 to Zen 5 alike), so its family and model numbers follow it; an ARM board's /proc/cpuinfo has
    no model name, so lscpu's core name (``Cortex-A76``) is used, after the board's own name where it
    gives one; elsewhere the platform's processor string."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    name = _field(text, "model name")
    if name:
        family, model = _field(text, "cpu family"), _field(text, "model")
        return f"{name}, family {family} model {model}" if family and model else name
    if "CPU implementer" in text:  # ARM Linux
        listing = output(["lscpu"]) if lscpu is None else lscpu
        core = " ".join(filter(None, (_field(listing, "Vendor ID"), _field(listing, "Model name"))))
        board = _field(text, "Model")  # Raspberry Pi and other boards name themselves
        return ", ".join(filter(None, (board, core))) or platform.machine()
    brand = output(["sysctl", "-n", "machdep.cpu.brand_string"]).strip() if platform.system() == "Darwin" else ""
    return brand or platform.processor() or platform.machine()


#: vector extensions that decide which kernels ONNX Runtime and oneDNN run, in the order reported
_VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "avx_vnni")


def _proc(name: str) -> str:
    """A /proc file as text; "" off Linux."""
    try:
        return Path("/proc", name).read_text(encoding="utf-8")
    except OSError:
        return ""


def read_cpuinfo() -> str:
    """/proc/cpuinfo as text; "" off Linux."""
    return _proc("cpuinfo")


def _all_cpu_flags() -> set[str]:
    """Every flag /proc/cpuinfo lists for the first CPU (x86 "flags", ARM "Features"); empty off Linux."""
    line = next((x for x in read_cpuinfo().splitlines() if x.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


def cpu_flags() -> list[str]:
    """The vector extensions of this CPU that the runtimes' kernels choose between (empty off Linux)."""
    have = _all_cpu_flags()
    return [f for f in _VECTOR_FLAGS if f in have]


#: the instructions of each reduced precision's arithmetic (x86 flags, ARM features): without them PyTorch and
#: oneDNN emulate it on the CPU, slower than float32
_NATIVE_FLAGS = {
    "bfloat16": {"avx512_bf16", "amx_bf16", "bf16"},
    "float16": {"avx512_fp16", "amx_fp16", "fphp", "asimdhp"},
}


def cpu_native(precision: str) -> bool | None:
    """Whether this CPU has ``precision``'s arithmetic instructions (bfloat16: x86 AVX-512 BF16 or AMX-BF16, ARM
    BF16; float16: AVX-512 FP16 or AMX-FP16, ARM FP16); None where /proc/cpuinfo cannot say. Not torch's
    ``mkldnn._is_mkldnn_bf16_supported()``: that is true on any AVX-512 CPU, where oneDNN emulates bfloat16, and
    training then runs slower than in float32 (docs/training.md)."""
    have = _all_cpu_flags()
    return bool(have & _NATIVE_FLAGS[precision]) if have else None


def gpu_native(precision: str, device: torch.device) -> bool:
    """Whether GPU ``device`` computes ``precision`` natively: bfloat16 from compute capability 8.0 (Ampere) on, the
    others everywhere. Not ``torch.cuda.is_bf16_supported()``: that says yes on a T4 or V100, which emulate it."""
    import torch

    if precision != "bfloat16" or torch.version.hip:
        return True
    return torch.cuda.get_device_properties(device).major >= 8


def native_precision(precision: str, device: torch.device) -> bool:
    """Whether ``device`` computes ``precision`` natively (else PyTorch emulates it, slower than float32). A CPU is
    judged by its flags (:func:`cpu_native`), or where they cannot be read (off Linux) by oneDNN's own answer, which
    also counts emulation; a GPU by :func:`gpu_native`; float32, and other devices, count as native."""
    if precision not in _NATIVE_FLAGS or device.type not in ("cpu", "cuda"):
        return True
    if device.type == "cuda":
        return gpu_native(precision, device)
    flags = cpu_native(precision)
    if flags is not None:
        return flags
    import torch

    mkldnn = torch.ops.mkldnn
    return bool(mkldnn._is_mkldnn_bf16_supported() if precision == "bfloat16" else mkldnn._is_mkldnn_fp16_supported())


#: the instructions each reduced precision needs, as a message names them: (x86, ARM)
_UNITS = {"bfloat16": ("AVX-512 BF16 or AMX", "BF16"), "float16": ("AVX-512 FP16 or AMX-FP16", "FP16")}


def emulated_precision(precision: str, device: torch.device) -> str | None:
    """A note when ``precision`` on ``device`` is emulated (:func:`native_precision`), naming what the device lacks:
    V2 1x's inference form, batch 1 and 8, ran bfloat16 1.2-2x and float16 8-12x slower than float32 on an AVX-512
    Xeon without their instructions. None where it is native. The one wording of inference's warning and training's
    refusal."""
    if native_precision(precision, device):
        return None
    if device.type == "cuda":
        import torch

        gpu = torch.cuda.get_device_properties(device)
        where = f"{gpu.name} (compute capability {gpu.major}.{gpu.minor}; GPUs have it from 8.0, Ampere)"
    else:
        arm = platform.machine().lower() in ("aarch64", "arm64") or _field(read_cpuinfo(), "Features") is not None
        where = f"this CPU (it has no {_UNITS[precision][arm]} instructions)"
    return f"{precision} on {where} is emulated by PyTorch, slower than float32"


def available_memory(device: torch.device | None = None) -> int | None:
    """Bytes free for new tensors: a GPU's free memory, else Linux's MemAvailable; None where unknown."""
    if device is not None and device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    kib = _field(_proc("meminfo"), "MemAvailable")
    return int(kib.split()[0]) * 1024 if kib and kib.split()[0].isdigit() else None


def read_proc_stat() -> str:
    """/proc/stat as text; "" off Linux."""
    return _proc("stat")


def cpu_steal_counters() -> tuple[int, int] | None:
    """(stolen, total) CPU time of all cores so far, in clock ticks, from /proc/stat; None where it cannot say.
    Stolen time is what a virtual machine's hypervisor gave to other guests while this one had work: a timing
    taken then runs slow for a reason no setting here can change."""
    line = next((x for x in read_proc_stat().splitlines() if x.startswith("cpu ")), "")
    ticks = [int(v) for v in line.split()[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return (ticks[7], sum(ticks)) if len(ticks) == 8 else None


def stolen_share(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    """The share of the CPU time between two :func:`cpu_steal_counters` readings that the hypervisor took."""
    if start is None or end is None or end[1] <= start[1]:
        return None
    return (end[0] - start[0]) / (end[1] - start[1])


def host_facts() -> dict[str, object]:
    """The facts every record of this machine names: CPU, its vector extensions, cores, GPU (None without), torch."""
    import torch

    return {
        "cpu": cpu_name(),
        "cpu_flags": " ".join(cpu_flags()),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def describe_host() -> str:
    """This machine in one line (cores, CPU, vector extensions, GPU, torch), as a training record names where its
    epochs ran."""
    f = host_facts()
    flags = f" ({f['cpu_flags']})" if f["cpu_flags"] else ""
    return f"{f['cores']}-core {f['cpu']}{flags}; {f['gpu'] or 'no GPU'}; torch {f['torch']}"
