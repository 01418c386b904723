import json
import warnings
from pathlib import Path

import pytest
import torch

from helpers import write_idx
from shufflenet import create_model, list_pretrained
from shufflenet.cli.main import main
from shufflenet.models import load_pretrained
from shufflenet.train import TrainConfig
from shufflenet.train.checkpoint import load_checkpoint, model_from_checkpoint


@pytest.fixture
def trained(fake_fmnist: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    argv = ["train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist), "--epochs", "1",
            "--batch-size", "64", "--threads", "1", "--crop-padding", "0", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out / "last.pt"


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("L", (28, 28), 30).save(path)
    return path


def test_train_eval_predict_ship(
    trained: Path, fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["eval", str(trained), "--data-dir", str(fake_fmnist), "--format", "json",
                 "--confusion", str(tmp_path / "cm.png")]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 200 and 0 <= summary["top1"] <= summary["top5"] <= 1
    assert main(["eval", str(trained), "--data-dir", str(fake_fmnist), "--format", "json", "--tta"]) == 0
    tta = json.loads(capsys.readouterr().out)
    assert tta["tta"] and not summary["tta"] and tta["images"] == 200
    assert main(["eval", str(trained), "--data-dir", str(fake_fmnist), "--format", "json", "--precision",
                 "bfloat16"]) == 0  # fmt: skip
    bf16 = json.loads(capsys.readouterr().out)
    assert (bf16["runtime"], bf16["precision"], summary["precision"]) == ("torch-fused", "bfloat16", "float32")
    assert bf16["loss"] == pytest.approx(summary["loss"], rel=0.05) and bf16["loss"] != summary["loss"]
    assert (tmp_path / "cm.png").stat().st_size > 1000
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    _png(img_dir / "a.png")
    _png(img_dir / "b.png")
    assert main(["predict", str(trained), str(img_dir), "--topk", "2", "--format", "json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 2 and len(preds[0]["top"]) == 2
    if not torch.cuda.is_available():  # a GPU asked for where there is none: one line, before any work
        assert main(["predict", str(trained), str(img_dir), "--device", "cuda"]) == 2
        assert capsys.readouterr().err == (
            "error: device 'cuda', but PyTorch sees no GPU on this machine; use device 'cpu'\n"
        )
    assert main(["save-pretrained", str(trained), "--tag", "test", "--out", str(tmp_path / "ship")]) == 0
    model = load_pretrained("shufflenet_v2_x0_5", "test", tmp_path / "ship")
    assert model.pretrained_cfg["class_names"][0] == "T-shirt/top" and model.in_chans == 1
    record = json.loads((tmp_path / "ship" / "shufflenet_v2_x0_5.test.json").read_text())
    assert record["history"][0]["epoch"] == 1 and record["recipe"]["model"] == "shufflenet_v2_x0_5"
    # --half: float16 on disk (half the bytes), float32 weights equal to the rounded originals once loaded
    assert main(["save-pretrained", str(trained), "--tag", "half", "--dir", str(tmp_path / "ship"), "--half"]) == 0
    full, half = (tmp_path / "ship" / f"shufflenet_v2_x0_5.{t}.safetensors" for t in ("test", "half"))
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded = load_pretrained("shufflenet_v2_x0_5", "half", tmp_path / "ship").state_dict()
    for key, value in model.state_dict().items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value.half().to(value.dtype)), key
    assert json.loads((tmp_path / "ship" / "shufflenet_v2_x0_5.half.json").read_text())["storage_dtype"] == "float16"


def test_model_options_reach_the_checkpoint_and_the_shipped_weights(fake_fmnist: Path, tmp_path: Path) -> None:
    # a deeper full-resolution stem (a JSON list on the command line) must rebuild the same network from the
    # checkpoint and from the shipped file, or shipping a model trained with options would fail to load
    out, ship = tmp_path / "run", tmp_path / "ship"
    argv = ["train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist), "--epochs", "1",
            "--threads", "1", "--model-options", '{"stem_chs": [24, 24]}', "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert main(["save-pretrained", str(out / "last.pt"), "--tag", "stem", "--dir", str(ship)]) == 0
    model = load_pretrained("shufflenet_v2_x0_5", "stem", ship)
    assert [m.conv.out_channels for m in model.stem] == [24, 24]
    x = torch.randn(2, 1, 28, 28)
    from_ckpt = model_from_checkpoint(load_checkpoint(out / "last.pt")).eval()
    torch.testing.assert_close(model(x), from_ckpt(x))


def test_recipe_fills_in_the_flags_not_given(fake_fmnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--recipe", "fashion-mnist", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist),
            "--epochs", "1", "--lr", "0.5", "--no-hflip", "--threads", "1", "--precision", "float32",
            "--out", str(out)]  # fmt: skip
    with pytest.warns(UserWarning, match=r"--warmup-epochs 1 spans the whole run \(--epochs 1\)"):  # the recipe's
        assert main(argv) == 0
    cfg = load_checkpoint(out / "last.pt")["config"]
    assert (cfg["epochs"], cfg["lr"], cfg["hflip"]) == (1, 0.5, False)  # given on the command line
    assert (cfg["batch_size"], cfg["ema_decay"], cfg["channels_last"], cfg["eval_every"]) == (
        64,
        0.999,
        True,
        5,
    )  # recipe
    assert cfg["momentum"] == 0.9 and cfg["nesterov"] is True  # neither: TrainConfig's defaults


def test_teachers_reach_the_run_and_its_checkpoint(
    fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = "shufflenet_v2_x0_5:fashion-mnist"
    out = tmp_path / "run"
    argv = ["train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist), "--epochs", "1",
            "--train-subset", "64", "--batch-size", "32", "--threads", "1", "--teacher", tag, "--teacher",
            "shufflenet_v1_g3_x0_5:fashion-mnist", "--teacher-tta", "--distill-temperature", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert (f"distilling from {tag} + shufflenet_v1_g3_x0_5:fashion-mnist (with mirror images): 0.5 of the loss at "
            "temperature 2") in capsys.readouterr().err  # fmt: skip
    cfg = load_checkpoint(out / "last.pt")["config"]
    assert cfg["teacher"] == (tag, "shufflenet_v1_g3_x0_5:fashion-mnist") and cfg["teacher_tta"] is True
    assert (cfg["distill_weight"], cfg["distill_temperature"]) == (0.5, 2.0)


def test_a_log_without_a_bar_gets_step_lines(
    fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captured stderr is no terminal, so no bar is drawn: the steps show as lines, as often as LOG_EVERY_S allows."""
    import shufflenet.cli.training as cli_training

    argv = ["train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist), "--epochs", "1",
            "--train-subset", "64", "--batch-size", "32", "--threads", "1", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    assert " step " not in capsys.readouterr().err  # the default minute has not passed in two steps
    monkeypatch.setattr(cli_training, "LOG_EVERY_S", 0.0)
    assert main([*argv[:-1], str(tmp_path / "again")]) == 0
    steps = [line for line in capsys.readouterr().err.splitlines() if " step " in line]
    assert [line.split(":")[0] for line in steps] == ["epoch 1/1 step 1/2", "epoch 1/1 step 2/2"]
    assert all("img/s" in line for line in steps)


def test_unknown_recipe_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.train import recipe

    with pytest.raises(ValueError, match="unknown recipe 'fast'; choose from paper, fashion-mnist"):
        recipe("fast")
    assert recipe("paper") == recipe("paper", weight_decay=4e-5)  # the paper's recipe is TrainConfig's defaults
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_gpu_recipe_is_the_shipped_network_on_one_gpu(fake_fmnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.models._pretrained import read_record
    from shufflenet.train import recipe

    cfg = recipe("fashion-mnist-gpu")
    shipped = read_record("shufflenet_v2_x0_5", "fashion-mnist-hires-wide")["recipe"]
    assert (cfg.model, cfg.model_options, cfg.crop_padding) == (shipped["model"], shipped["model_options"], 2)
    assert (cfg.batch_size, cfg.lr, cfg.device, cfg.precision) == (256, shipped["lr"], "cuda", "auto")
    # batch 256 (46 epochs of it reached 95.0% on a CPU, twice) is launch-bound in eager PyTorch: the step is captured
    assert cfg.cuda_graph and cfg.compile == "off"
    # the EMA's horizon in images: the shipped run's decay per step of 2 processes x its batch
    assert cfg.ema_decay == pytest.approx(
        shipped["ema_decay"] ** (cfg.batch_size / (2 * shipped["batch_size"])), abs=5e-4
    )
    assert 0 < cfg.time_budget * 60 <= 100  # training leaves room for start-up and the last evaluation in 120 s
    if not torch.cuda.is_available():  # without a GPU: a one-line error before any work
        with warnings.catch_warnings(record=True) as caught:  # and only that: not the short run's warm-up note first
            warnings.simplefilter("always")
            argv = ["train", "--recipe", "fashion-mnist-gpu", "--data-dir", str(fake_fmnist), "--epochs", "1"]
            assert main(argv) != 0
        err = capsys.readouterr().err  # the recipe chose the GPU, so the fix is the flag that overrides it
        assert (
            err == "error: --recipe fashion-mnist-gpu trains on a GPU, but PyTorch sees none on this machine; add "
            "--device cpu to run it here (its arithmetic, slowly)\n"
        )
        assert [str(w.message) for w in caught] == []
        assert main([*argv, "--device", "cuda"]) != 0  # asked for by name: the device's own error
        assert "error: device 'cuda', but PyTorch sees no GPU on this machine" in capsys.readouterr().err
    wide = recipe("fashion-mnist-gpu-wide")  # the >= 95.5% attempt: the same recipe, wider, under 1M parameters
    batching = ("model_options", "batch_size", "ema_decay", "epochs", "time_budget")
    assert {**wide.to_dict(), **dict.fromkeys(batching)} == {**cfg.to_dict(), **dict.fromkeys(batching)}
    # at the shipped run's batch (2 processes x 64) and EMA, for a fixed number of epochs: a CPU replica is the same run
    assert (wide.batch_size, wide.ema_decay, wide.time_budget) == (2 * shipped["batch_size"], shipped["ema_decay"], 0)
    model = create_model(wide.model, num_classes=10, in_chans=1, **wide.model_options)
    assert 0.9e6 < sum(p.numel() for p in model.parameters()) <= 1e6 and wide.epochs > shipped["epochs"]


SHIPPED = [(p.model, p.tag) for p in list_pretrained() if p.source == "shipped with shufflenet"]


def test_list_pretrained_names_shipped_and_imagenet_tags_with_their_top1() -> None:
    tags = {(p.model, p.tag): p for p in list_pretrained()}
    assert tags["shufflenet_v2_x1_0", "imagenet"].top1 == pytest.approx(69.362)  # torchvision's metadata
    assert tags["shufflenet_v2_x0_5", "fashion-mnist-hires-wide"].top1 == pytest.approx(95.06)  # its record
    assert tags["shufflenet_v2_x0_5", "fashion-mnist-hires-wider"].top1 == pytest.approx(95.41)
    assert len(SHIPPED) == 7 and {p.model for p in list_pretrained() if p.tag == "imagenet"} >= {
        "shufflenet_v2_x0_5", "shufflenet_v2_x2_0", "mobilenet_v2_x1_0", "squeezenet1_1", "resnet50"}  # fmt: skip
    for p in list_pretrained():  # as torchvision's tests check num_params: the record against the built network
        if p.tag == "imagenet":  # torchvision's own count against our port of its network (built empty, no download)
            with torch.device("meta"):
                assert p.params == sum(q.numel() for q in create_model(p.model).parameters()), p.model


@pytest.mark.parametrize("name,tag", SHIPPED)
def test_shipped_weights_work_offline(name: str, tag: str, tmp_path: Path) -> None:
    model = create_model(name, pretrained=tag)
    listed = next(p for p in list_pretrained() if (p.model, p.tag) == (name, tag))
    assert listed.params == sum(p.numel() for p in model.parameters())
    cfg = model.pretrained_cfg
    assert {"mean", "std", "input_size", "class_names"} <= set(cfg) and model.num_classes == len(cfg["class_names"])
    assert main(["predict", f"{name}:{tag}", str(_png(tmp_path / "x.png"))]) == 0


def test_train_and_eval_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    import numpy as np

    path = write_idx(root / "train-images-idx3-ubyte", np.zeros((10, 28, 28), np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:100])
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(10, np.uint8), gz=False)
    assert main(["train", "--data-dir", str(root), "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    assert "is truncated" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "dataset-fashion-mnist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        main(["train", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "holds no images" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nope")
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable checkpoint" in err and len(err.splitlines()) == 1
    assert main(["predict", "shufflenet_v2_x0_5:nope", "x.png"]) == 2
    assert "no pretrained weights" in capsys.readouterr().err
    out = ["--out", str(tmp_path / "o")]  # the teacher's errors come before any data is read
    assert main(["train", "--distill-weight", "0.7", *out]) == 2
    assert "--distill-weight: only with --teacher" in capsys.readouterr().err
    assert main(["train", "--teacher", "nowhere.pt", *out]) == 2
    assert "--teacher nowhere.pt: not a file" in capsys.readouterr().err
    assert main(["train", "--teacher", "shufflenet_v2_x0_5:nope", *out]) == 2
    assert "no pretrained weights" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # six passes over the 10k test images: CI runs them (make test SLOW=1)
@pytest.mark.parametrize("name,tag", [p for p in SHIPPED if p[1].startswith("fashion-mnist")])
def test_shipped_accuracy_matches_its_training_log(name: str, tag: str) -> None:
    """The shipped record's last test accuracy is what these weights score (real test set)."""
    from shufflenet.data import FASHION_MNIST_DIR, load_fashion_mnist
    from shufflenet.layers.deploy import deploy
    from shufflenet.models._pretrained import PRETRAINED_DIR
    from shufflenet.train import evaluate

    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Fashion-MNIST is not installed (make data)")
    model = create_model(name, pretrained=tag)
    listed = next(p for p in list_pretrained() if (p.model, p.tag) == (name, tag))
    assert listed.params == sum(p.numel() for p in model.parameters())
    cfg = model.pretrained_cfg
    test = load_fashion_mnist(FASHION_MNIST_DIR, train=False)
    # in the inference form the training loop scored it in (BN folded, channels-last): also 1.5-2x faster
    top1 = evaluate(deploy(model), test.batches(cfg["mean"], cfg["std"]), 10).top1
    record = json.loads((PRETRAINED_DIR / f"{name}.{tag}.json").read_text())
    assert top1 == pytest.approx(record["history"][-1]["test_top1"], abs=1e-4)


def test_export_int8_then_eval_and_predict_the_onnx_files(
    fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shipped weights -> float and int8 ONNX (calibrated on Fashion-MNIST-format images) -> eval and predict."""
    ref = "shufflenet_v2_x0_5:fashion-mnist"
    fp32, int8 = tmp_path / "f.onnx", tmp_path / "q.onnx"
    assert main(["export", ref, "-o", str(fp32)]) == 0
    assert (
        main(
            [
                "export",
                ref,
                "--format",
                "onnx-int8",
                "--data-dir",
                str(fake_fmnist),
                "--calib-images",
                "64",
                "-o",
                str(int8),
            ]
        )
        == 0
    )
    assert "same top-1 on" in capsys.readouterr().out
    tops = []
    for source in (ref, str(fp32), str(int8)):
        assert main(["eval", source, "--data-dir", str(fake_fmnist), "--format", "json", "--threads", "1"]) == 0
        tops.append(json.loads(capsys.readouterr().out)["top1"])
    assert tops[0] == pytest.approx(tops[1], abs=1e-9)  # float ONNX: the same predictions as PyTorch
    assert main(["predict", str(int8), str(_png(tmp_path / "x.png")), "--format", "json"]) == 0
    assert (
        json.loads(capsys.readouterr().out)[0]["top"][0][0]
        in create_model(ref.split(":")[0], pretrained="fashion-mnist").pretrained_cfg["class_names"]
    )
    assert main(["predict", ref, str(tmp_path / "x.png"), "--runtime", "onnxruntime-shufflenet"]) == 0
    with pytest.warns(FutureWarning, match="now called 'onnxruntime-shufflenet'"):  # the old name, for one release
        assert main(["predict", ref, str(tmp_path / "x.png"), "--runtime", "onnxruntime"]) == 0
    # int8 needs a trained model and images the model takes
    assert main(["export", "shufflenet_v2_x0_5", "--format", "onnx-int8", "-o", str(tmp_path / "r.onnx")]) == 2
    assert "needs a trained model" in capsys.readouterr().err
    assert not (tmp_path / "r.onnx").exists()


def test_a_recipes_choices_give_way_to_the_flags_that_clash(capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.cli.main import build_parser
    from shufflenet.cli.training import _given_fields
    from shufflenet.train import recipe

    def cfg(*flags: str) -> TrainConfig:  # what `train --recipe fashion-mnist-gpu FLAGS` runs
        return recipe("fashion-mnist-gpu", **_given_fields(build_parser().parse_args(["train", "--recipe",
                      "fashion-mnist-gpu", *flags])))  # fmt: skip

    assert cfg().time_budget > 0 and cfg().cuda_graph  # the recipe's 95 s and capture stand
    # the recipe's capture gives way to a CPU, a compiler or resizing asked for; asked for itself, it stays (and the
    # config refuses the clash in one line)
    assert not cfg("--device", "cpu").cuda_graph and cfg("--device", "cuda:1").cuda_graph
    assert cfg("--device", "auto").cuda_graph  # a GPU if there is one: the capture stays
    assert not cfg("--compile", "reduce-overhead").cuda_graph
    assert not cfg("--min-train-size", "20", "--epochs", "5").cuda_graph
    assert cfg("--compile", "off").cuda_graph and cfg("--device", "cpu", "--cuda-graph").cuda_graph
    assert not cfg("--no-cuda-graph").cuda_graph
    with pytest.raises(ValueError, match="--cuda-graph and --compile max-autotune both remove the step's launches"):
        cfg("--compile", "max-autotune", "--cuda-graph")
    assert (cfg("--epochs", "40").epochs, cfg("--epochs", "40").time_budget) == (40, 0)  # else the budget ignores them
    assert cfg("--time-budget", "off").time_budget == 0 and cfg("--time-budget", "off", "--epochs", "5").epochs == 5
    assert cfg("--time-budget", "2m").time_budget == 2.0
    # a Python caller gets the same: the recipe's capture and budget give way to what it names
    assert recipe("fashion-mnist-gpu", compile="reduce-overhead", epochs=5) == recipe(
        "fashion-mnist-gpu", compile="reduce-overhead", cuda_graph=False, epochs=5, time_budget=0
    )
    with pytest.raises(ValueError, match="progressive resizing follows the epochs"):
        recipe("fashion-mnist-gpu", min_train_size=20)  # the budget is the recipe's own: it stays
    assert main(["train", "--recipe", "fashion-mnist-gpu", "--epochs", "3", "--time-budget", "2m"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --epochs and --time-budget both say how long to train; give one of them"
    )


def test_time_budget_needs_a_unit(fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.cli.training import _minutes

    assert (_minutes("88m"), _minutes("1.5h"), _minutes("90s"), _minutes("2 min")) == (88.0, 90.0, 1.5, 2.0)
    out = tmp_path / "o"
    assert main(["train", "--data-dir", str(fake_fmnist), "--time-budget", "88", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "give a duration with its unit" in err and len(err.splitlines()) == 1 and not out.exists()


def test_training_draws_its_curves_and_curves_compares_runs(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from shufflenet.train.history import write_history

    assert (trained.parent / "curves.png").read_bytes()[:4] == b"\x89PNG"  # drawn at the end of the run
    other = tmp_path / "runs" / "other"  # scored every 2nd epoch, best before the last
    other.mkdir(parents=True)
    write_history(other, [{"epoch": 1, "train_loss": 2.0, "test_top1": None},
                          {"epoch": 2, "train_loss": 1.0, "test_top1": 0.8},
                          {"epoch": 3, "train_loss": 0.9, "test_top1": None},
                          {"epoch": 4, "train_loss": 0.8, "test_top1": 0.7}])  # fmt: skip
    capsys.readouterr()
    figure = tmp_path / "cmp.svg"
    assert main(["curves", str(trained.parent), str(tmp_path / "runs"), "--out", str(figure), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in records] == [str(trained.parent), str(other)]  # a folder of runs stands for them
    assert records[1] == {"run": str(other), "epochs": 4, "score": "test_top1", "best": 0.8,
                                                     "best_epoch": 2, "last": 0.7, "last_train_loss": 0.8}  # fmt: skip
    assert "<svg" in figure.read_text()
    shipped = "shufflenet_v2_x0_5:fashion-mnist-hires-wide"  # your run beside the log of the shipped recipe's
    assert main(["curves", shipped, str(trained.parent), "--out", str(tmp_path / "s.png"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0] == {"run": shipped, "epochs": 28, "score": "test_top1",
        "best": 0.9506, "best_epoch": 28, "last": 0.9506, "last_train_loss": pytest.approx(0.573, abs=1e-3)}  # fmt: skip
    assert main(["curves", str(trained.parent), "--x", "seconds", "--out", str(tmp_path / "t.png")]) == 0  # epoch_s
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["curves", str(other), "--x", "seconds", "--out", str(tmp_path / "t2.png")]) == 2
    assert "has no epoch times (epoch_s); plot it by epoch" in capsys.readouterr().err
    detector = tmp_path / "det"
    detector.mkdir()
    write_history(detector, [{"epoch": 1, "train_loss": 1.0, "val_map_50": 0.2}])
    assert main(["curves", str(other), str(detector), "--out", str(tmp_path / "mixed.png")]) == 2
    assert "the runs are scored differently" in capsys.readouterr().err
    assert not (tmp_path / "mixed.png").exists()
