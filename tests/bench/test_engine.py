import warnings

import numpy as np
import pytest
import torch

import shufflenet
from shufflenet.bench import benchmark, benchmark_many, get_runtime
from shufflenet.runtimes import num_threads


def test_engine_on_tiny_model_is_sane() -> None:
    r = benchmark("shufflenet_v2_x0_5", batch=2, img_size=32, small_input=True, threads=1, min_time_s=0.05)
    assert r.latency_ms_min <= r.latency_ms_p10 <= r.latency_ms_median <= r.latency_ms_p90
    assert r.latency_ms_min > 0 and r.iterations >= 10 and not r.truncated
    assert r.images_per_s == pytest.approx(2 * 1e3 / r.latency_ms_median)
    assert r.threads == 1 and r.flops > 0 and r.params > 0 and r.mac > 0
    assert r.machine["cores"] and r.machine["torch"] == torch.__version__
    keys = set(r.to_dict())
    assert {"model", "runtime", "batch", "img_size", "threads", "latency_ms_median", "latency_ms_p10",
            "latency_ms_p90", "images_per_s", "flops", "params", "mac"} <= keys  # fmt: skip


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with num_threads(1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_onnxruntime_and_eager_give_the_same_outputs() -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", num_classes=10).eval()
    x = torch.randn(3, 3, 64, 64)
    eager = get_runtime("eager").prepare(model, x, 1)(x)
    ort = get_runtime("onnxruntime").prepare(model, x[:1], 1)(x)  # dynamic batch axis
    np.testing.assert_allclose(ort.numpy(), eager.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", ["avx2", "avx512", "portable"])
def test_our_onnx_runtime_runs_the_file_of_this_hosts_class(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a file made and run here only is written for this CPU's class (pieces for avx2/avx512), with the same logits
    from shufflenet.bench import runtimes

    targets = []
    export = runtimes.export_onnx
    monkeypatch.setattr(runtimes, "onnx_target", lambda: target)
    monkeypatch.setattr(runtimes, "export_onnx", lambda *a, **kw: targets.append(kw["target"]) or export(*a, **kw))
    model = shufflenet.create_model("shufflenet_v2_x0_5", num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    ours = get_runtime("onnxruntime-shufflenet").prepare(model, x[:1], 1)(x)
    np.testing.assert_allclose(ours.numpy(), get_runtime("eager").prepare(model, x, 1)(x).numpy(), rtol=1e-4, atol=1e-5)
    assert targets == [target]


def test_time_budget_stops_cleanly_with_partial_results() -> None:
    suite = benchmark_many(
        ["shufflenet_v2_x0_5"], batches=[1, 2, 4], img_size=32, small_input=True, min_time_s=0.05, time_budget_s=0.0
    )
    assert [r.batch for r in suite.results] == [1]  # the first batch always runs
    assert [b for _, _, b in suite.skipped] == [2, 4] and not suite.complete


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch": 0}, "batch must be >= 1"),
        ({"runtime": "tvm"}, "unknown runtime 'tvm'"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"precision": "int3"}, "unknown precision 'int3'"),
        (
            {"device": "cuda"} if not torch.cuda.is_available() else {"batch": -1},
            "sees no GPU on this machine|batch must",
        ),
        ({"device": "tpu"}, "unknown device .tpu.|runs on cpu or cuda"),
    ],
)
def test_bad_setup_is_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        benchmark("shufflenet_v2_x0_5", img_size=32, small_input=True, min_time_s=0.01, **kwargs)


def test_input_size_is_the_old_name_of_img_size() -> None:
    with pytest.warns(FutureWarning, match=r"benchmark\(\): input_size= is now img_size="):
        assert benchmark("shufflenet_v2_x0_5", input_size=32, small_input=True, min_time_s=0.01).img_size == 32
    with pytest.warns(FutureWarning, match=r"benchmark\(\): dtype= is now precision="):  # Predictor's word
        assert benchmark("shufflenet_v2_x0_5", dtype="float32", img_size=32, small_input=True, min_time_s=0.01)


def test_a_precision_this_cpu_emulates_is_said_with_its_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    from shufflenet.utils import host

    monkeypatch.setattr(host, "read_cpuinfo", lambda: "flags\t: fpu avx2 fma avx512f avx512_vnni\n")  # no BF16/FP16
    tiny = {"img_size": 32, "small_input": True, "min_time_s": 0.01}
    with pytest.warns(UserWarning, match=r"float16 on this CPU \(it has no AVX-512 FP16 or AMX-FP16 instructions\) is "
                      "emulated by PyTorch, slower than float32; these timings measure the emulation"):  # fmt: skip
        assert benchmark("shufflenet_v2_x0_5", precision="float16", **tiny).dtype == "float16"
    with pytest.warns(UserWarning, match=r"bfloat16 on this CPU \(it has no AVX-512 BF16"):
        shufflenet.Predictor(shufflenet.create_model("shufflenet_v2_x0_5"), precision="bfloat16")
    monkeypatch.setattr(host, "read_cpuinfo", lambda: "flags\t: fpu avx512f avx512_bf16\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native: nothing to say
        benchmark("shufflenet_v2_x0_5", precision="bfloat16", **tiny)
        benchmark("shufflenet_v2_x0_5", **tiny)


@pytest.mark.slow
def test_torch_compile_runtime_matches_eager() -> None:
    # one unit per stage: every kind of op once, a third of the graph to compile
    model = shufflenet.create_model("shufflenet_v2_x0_5", num_classes=10, small_input=True, stage_repeats=[1, 1, 1])
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    eager = get_runtime("eager").prepare(model, x, 1)(x)
    compiled = get_runtime("compile").prepare(model, x, 1)(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)


def test_compile_modes_reach_torch_compile(monkeypatch) -> None:
    """The modes' runtimes pass their mode on (compiling for real takes minutes: the call is recorded);
    CUDA graphs need a GPU, so reduce-overhead is refused on the CPU before anything is prepared."""
    seen = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: seen.append(kw) or model)
    model, x = torch.nn.Linear(3, 2), torch.randn(1, 3)
    for name in ("compile", "compile-max-autotune", "compile-reduce-overhead"):
        torch.testing.assert_close(get_runtime(name).prepare(model, x, 1)(x), model(x))
    assert [kw["mode"] for kw in seen] == [None, "max-autotune", "reduce-overhead"]
    with pytest.raises(ValueError, match="the compile-reduce-overhead runtime needs a GPU"):
        get_runtime("compile-reduce-overhead").check_device(torch.device("cpu"))


def test_exported_files_are_timed_in_their_runtime(tmp_path, capsys) -> None:
    import json

    from shufflenet.bench.engine import benchmark_artifact
    from shufflenet.cli.main import main
    from shufflenet.export import export_onnx
    from shufflenet.models import create_model

    path = export_onnx(create_model("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32)).path
    results = benchmark_artifact(path, batches=(1, 2), threads=1, min_time_s=0.02)
    assert [(r.runtime, r.batch, r.img_size, r.flops) for r in results] == [
        ("onnxruntime", 1, 32, 0),
        ("onnxruntime", 2, 32, 0),
    ]
    argv = ["bench", "shufflenet_v2_x0_5", str(path), "--img-size", "32", "--min-time", "0.02", "--format", "json"]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["runtime"]) for r in records] == [
        ("shufflenet_v2_x0_5", "eager"),
        (str(path), "onnxruntime"),
    ]
    assert main(["bench", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx not found" in capsys.readouterr().err


def test_artifacts_of_two_runtimes_are_raced_each_at_its_own_input(tmp_path) -> None:
    pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'shufflenet[openvino]')")
    from shufflenet.bench.engine import benchmark_artifacts
    from shufflenet.complexity import analyze
    from shufflenet.export import export_onnx
    from shufflenet.export.openvino import export_openvino
    from shufflenet.models import create_model

    path = export_onnx(create_model("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32)).path
    trained = create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")  # its file records its network
    ir = export_openvino(trained, tmp_path / "m.xml", input_shape=(1, 1, 48, 48)).path
    raced = benchmark_artifacts([ir, path], batches=(1, 2), threads=1, min_time_s=0.03, rounds=3, pause_s=0.0)
    shapes = [("openvino", 1, 1, 48), ("openvino", 2, 1, 48), ("onnxruntime", 1, 3, 32), ("onnxruntime", 2, 3, 32)]
    assert [(r.runtime, r.batch, r.in_chans, r.img_size) for r in raced] == shapes  # each at its own input
    assert all(r.iterations >= 10 for r in raced)  # the three rounds' blocks counted together
    assert raced[0].flops == analyze(trained, (1, 1, 48, 48)).flops and raced[2].flops == 0  # a fresh model's: none


def test_bench_takes_checkpoints_and_tags_at_their_own_input(tmp_path, capsys) -> None:
    import json

    from helpers import fake_checkpoint
    from shufflenet.cli.main import main

    ckpt = fake_checkpoint(tmp_path / "m.pt", ["a", "b", "c"], in_chans=3, size=40)
    argv = ["bench", str(ckpt), "shufflenet_v2_x0_5:fashion-mnist", "--min-time", "0.02", "--format", "json"]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["in_chans"], r["img_size"]) for r in records] == [
        (str(ckpt), 3, 40),
        ("shufflenet_v2_x0_5:fashion-mnist", 1, 28),
    ]
    assert main(["bench", str(ckpt), "--breakdown"]) == 2
    assert "give the model's name instead" in capsys.readouterr().err


def test_the_points_of_a_batch_are_raced_and_reported_in_order() -> None:
    messages: list[str] = []
    models, runtimes = ["shufflenet_v2_x0_5", "mobilenet_v1_x0_25"], ["eager", "torch-fused"]
    suite = benchmark_many(models, batches=[1, 2], runtimes=runtimes, img_size=32, small_input=True, threads=1,
                           min_time_s=0.03, rounds=3, pause_s=0.0, progress=messages.append)  # fmt: skip
    assert [(r.model, r.runtime, r.batch) for r in suite.results] == [
        (m, rt, b) for m in models for rt in runtimes for b in (1, 2)
    ]
    assert all(r.iterations >= 10 for r in suite.results)  # every round's block counted (>= 4 calls each)
    rounds = [m for m in messages if "batch 1: round" in m]
    assert len(rounds) == 12 and all("round 1/3" in m for m in rounds[:4])  # all four once, then again
    assert {m.split(" batch")[0] for m in rounds[:4]} == {f"{m} {rt}" for m in models for rt in runtimes}
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        benchmark_many(models, img_size=32, small_input=True, rounds=0)


def test_speedup_over_torchvision_is_the_median_per_round_ratio() -> None:
    """The host slowed 3x from round 2, just after our block of that round: the per-round ratios (1.1, 3.3,
    1.1) see through it, the ratio of the medians (3.3 / 1.0) does not."""
    from dataclasses import replace

    from shufflenet.bench import speedups_over_torchvision

    suite = benchmark_many([shufflenet.create_model("shufflenet_v2_x0_5")], img_size=32, min_time_s=0.02, rounds=3)
    ours = replace(suite.results[0], model="shufflenet_v2_x0_5")
    assert len(ours.round_ms) == 3 and ours.latency_ms_median == sorted(ours.round_ms)[1]
    mine = replace(ours, round_ms=(1.0, 1.0, 3.0), latency_ms_median=1.0)
    theirs = replace(ours, model="torchvision:shufflenet_v2_x0_5", round_ms=(1.1, 3.3, 3.3), latency_ms_median=3.3)
    assert speedups_over_torchvision([mine, theirs]) == {0: pytest.approx(1.1)}
    unraced = replace(theirs, round_ms=())  # no rounds to pair: the ratio of the medians
    assert speedups_over_torchvision([mine, unraced]) == {0: pytest.approx(3.3)}
    # rounds 2 and 3 in a cloud host's slow regime (both ~1.6x), where ours' lead grew: the steady round counts
    slow = replace(mine, round_ms=(1.0, 1.5, 1.5)), replace(theirs, round_ms=(1.2, 2.1, 2.1))
    assert speedups_over_torchvision(list(slow)) == {0: pytest.approx(1.2)}  # all rounds: 1.4
    # one block of round 2 caught the slow regime, the rest of a two-runtime race did not (the race as a whole was
    # steady there): that round's 2.1x is dropped from its pair's ratio
    split = replace(mine, round_ms=(1.0, 1.0, 1.0)), replace(theirs, round_ms=(1.2, 2.1, 1.25))
    other = [replace(r, runtime="onnxruntime", round_ms=(1.0, 1.0, 1.0)) for r in split]
    assert speedups_over_torchvision([*split, *other]) == {0: pytest.approx(1.225), 2: pytest.approx(1.0)}
    from shufflenet.bench.engine import torchvision_round_ratios

    eight = replace(mine, batch=8, round_ms=(2.0, 2.0))  # no namesake at batch 8: no ratio, no rounds
    assert torchvision_round_ratios([*slow, eight]) == {0: [pytest.approx(1.2)]}
    assert torchvision_round_ratios([*split, eight]) == {0: [pytest.approx(1.2), pytest.approx(1.25)]}
