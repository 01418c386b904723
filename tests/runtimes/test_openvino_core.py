"""OpenVINO in the test process: its CPU plugin and the thread's alternate signal stack (a crash CI met, now a
regression test), and its converter's telemetry, which the suite declines (conftest)."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'shufflenet[openvino]')")

# two models compiled and released in the order they were made, then a signal that a Python handler takes
# (as a DataLoader with workers installs for SIGCHLD) and a child's exit: with a Core per compile, the
# first Core's release left the main thread's signal stack unmapped and the child's exit killed the process
SCRIPT = textwrap.dedent("""
    import gc, signal, subprocess, sys
    import openvino as ov, torch
    from shufflenet.runtimes import ov_compile

    def ir():
        return ov.convert_model(torch.nn.Conv2d(3, 4, 3).eval(), example_input=torch.randn(1, 3, 8, 8))

    first, second = ov_compile(ir(), 1), ov_compile(ir(), 1)
    del first; gc.collect()
    del second; gc.collect()
    signal.signal(signal.SIGCHLD, lambda *_: None)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print("alive")
""")


def test_compiled_models_released_in_any_order_leave_signals_deliverable() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0 and run.stdout.strip() == "alive", (run.returncode, run.stderr[-2000:])


def test_the_suite_sends_no_conversion_telemetry() -> None:
    from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry

    telemetry = init_ovc_telemetry()  # OpenVINO's stub, without a consent, where openvino-telemetry is not installed
    assert getattr(telemetry, "consent", False) is False  # as conftest made it: no fork per conversion, nothing sent
