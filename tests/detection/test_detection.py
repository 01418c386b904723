"""Detection: detectors on every backbone family, the synthetic COCO set, the reader's checks, COCO
metrics, and the train / resume / eval / predict commands, all on tiny images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import load_benchmark
from shufflenet.cli.main import main
from shufflenet.detection import (
    CocoDetectionData,
    DetectConfig,
    create_detector,
    evaluate_detector,
    load_detector_checkpoint,
    make_detection_set,
    train_detector,
)
from shufflenet.export import Predictor
from shufflenet.predict import describe
from shufflenet.train.history import read_history

pytest.importorskip("pycocotools", reason="the detection extra: pip install 'shufflenet[detection]'")


def _targets(n: int, side: int) -> list[dict[str, torch.Tensor]]:
    return [{"boxes": torch.tensor([[4.0, 6.0, side / 2, side - 3.0]]), "labels": torch.tensor([1 + i % 3])}
            for i in range(n)]  # fmt: skip


@pytest.mark.parametrize("kind", ["fcos", "retinanet", "fasterrcnn"])
def test_each_detector_trains_and_detects(kind: str) -> None:
    model = create_detector("shufflenet_v2_x0_5", 3, kind=kind, img_size=64, fpn_channels=32)
    images = [torch.rand(3, 64, 64), torch.rand(3, 64, 48)]
    losses = model(images, _targets(2, 48))
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and all(p.grad is not None for p in model.backbone.body.parameters())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and {"boxes", "scores", "labels"} <= set(out[0])


def test_detector_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="img_size must be >= 32"):
        create_detector("shufflenet_v2_x0_5", 2, img_size=0)
    with pytest.raises(TypeError, match="backbone must be a registered model's name or a FeatureExtractor"):
        create_detector(torch.nn.Linear(2, 2), 2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "backbone,options",
    [("shufflenet_v1_g3_x0_5", {}), ("shufflenet_v2_x0_5", {"extra_dw": True}), ("mobilenet_v1_x0_25", {}),
     ("mobilenet_v2_x0_5", {}), ("squeezenet1_1", {})],
)  # fmt: skip
def test_every_family_is_a_backbone(backbone: str, options: dict) -> None:
    model = create_detector(backbone, 2, img_size=96, fpn_channels=32, **options)
    sum(model([torch.rand(3, 96, 96), torch.rand(3, 96, 96)], _targets(2, 96)).values()).backward()


def test_make_data_is_deterministic_and_coco(fake_fmnist: Path, tmp_path: Path) -> None:
    kw = dict(train_images=6, val_images=3, img_size=64, data_dir=str(fake_fmnist), seed=3)
    counts = make_detection_set(tmp_path / "a", **kw)
    make_detection_set(tmp_path / "b", **kw)
    for rel in ("annotations/instances_train.json", "annotations/instances_val.json", "train/000005.png"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    record = json.loads((tmp_path / "a" / "annotations" / "instances_val.json").read_text())
    assert len(record["images"]) == 3 and len(record["annotations"]) == counts["val"] >= 3
    assert [c["id"] for c in record["categories"]] == list(range(1, 11))
    for ann in record["annotations"]:
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w >= 1 and h >= 1
    with pytest.raises(FileExistsError):
        make_detection_set(tmp_path / "a", **kw)


def _coco(root: Path, annotations: list[dict], categories=((1, "cat"), (2, "dog"))) -> Path:
    from PIL import Image

    (root / "img").mkdir(parents=True)
    for i in (1, 2):
        Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(root / "img" / f"{i}.png")
    record = {"images": [{"id": i, "file_name": f"{i}.png", "width": 40, "height": 30} for i in (1, 2)],
              "annotations": annotations, "categories": [{"id": c, "name": n} for c, n in categories]}  # fmt: skip
    (root / "ann.json").write_text(json.dumps(record))
    return root


def test_reader_names_bad_annotations(tmp_path: Path) -> None:
    anns = [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [30, 20, 20, 20]},  # reaches outside: clipped
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 5, 0, 10]}]  # no area: dropped  # fmt: skip
    root = _coco(tmp_path / "a", anns)
    with pytest.warns(UserWarning) as caught:
        data = CocoDetectionData(root / "img", root / "ann.json")
    messages = " | ".join(str(w.message) for w in caught)
    assert "were clipped in 1 image(s): 1.png" in messages and "were dropped in 1 image(s): 2.png" in messages
    image, target = data[0]
    assert image.shape == (3, 30, 40) and target["boxes"].tolist() == [[30.0, 20.0, 40.0, 30.0]]
    assert target["labels"].tolist() == [2] and len(data[1][1]["boxes"]) == 0
    bad = _coco(tmp_path / "b", [{"id": 1, "image_id": 2, "category_id": 7, "bbox": [1, 1, 5, 5]}])
    with pytest.raises(ValueError, match="image 2.png has a box of category 7, which is not among"):
        CocoDetectionData(bad / "img", bad / "ann.json")
    (bad / "ann.json").write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}]}))
    with pytest.raises(ValueError, match="lists no images"):
        CocoDetectionData(bad / "img", bad / "ann.json")
    (bad / "ann.json").write_text('{"images": [')
    with pytest.raises(ValueError, match="is not valid JSON"):
        CocoDetectionData(bad / "img", bad / "ann.json")


def test_unreadable_images_are_named_and_skipped_not_met_mid_epoch(tmp_path: Path) -> None:
    from PIL import Image

    root = _coco(
        tmp_path / "a", [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0}]
    )
    record = json.loads((root / "ann.json").read_text())
    record["images"].append({"id": 3, "file_name": "3.png", "width": 40, "height": 30})
    (root / "ann.json").write_text(json.dumps(record))
    (root / "img" / "3.png").write_bytes(b"not an image")  # no header: skipped when the set is opened
    Image.effect_noise((40, 30), 60).convert("RGB").save(root / "img" / "2.png")
    whole = (root / "img" / "2.png").read_bytes()
    (root / "img" / "2.png").write_bytes(whole[: len(whole) // 2])  # a header, then its pixels cut short
    with pytest.warns(UserWarning, match=r"image files are unreadable \(skipped\) in 1 image\(s\): 3.png"):
        data = CocoDetectionData(root / "img", root / "ann.json")
    assert len(data) == 2
    with pytest.warns(UserWarning, match=r"skipped an unreadable image \(cannot decode image .*2.png"):
        _, target = data[1]
    assert target["image_id"].item() == 1  # the next readable image, with its own boxes

    class Fixed(torch.nn.Module):  # image 1's box, exactly, in every image
        def forward(self, batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            return [{"boxes": torch.tensor([[1.0, 1, 11, 11]]), "scores": torch.ones(1), "labels": torch.ones(1, dtype=torch.int64)}
                    for _ in batch]  # fmt: skip

    with pytest.warns(UserWarning, match="skipped an unreadable image"):
        metrics = evaluate_detector(Fixed(), data)  # 2.png is replaced by 1.png: scored once, not twice
    assert metrics.images == 1 and metrics.map == pytest.approx(1.0)
    (root / "img" / "1.png").write_bytes(b"nor this")
    (root / "img" / "2.png").unlink()
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of its 3 images is a readable image"):
        CocoDetectionData(root / "img", root / "ann.json")


def test_coco_metrics_of_perfect_and_wrong_detections(tmp_path: Path) -> None:
    anns = [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [2, 2, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [10, 5, 25, 20], "area": 500, "iscrowd": 0}]  # fmt: skip
    root = _coco(tmp_path / "c", anns)
    data = CocoDetectionData(root / "img", root / "ann.json")
    images, targets = zip(*[data[i] for i in range(len(data))])

    class Echo(torch.nn.Module):
        def __init__(self, shift: float) -> None:
            super().__init__()
            self.shift = shift

        def forward(self, batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            return [{"boxes": t["boxes"] + self.shift, "scores": torch.ones(len(t["boxes"])), "labels": t["labels"]}
                    for t in targets]  # fmt: skip

    perfect = evaluate_detector(Echo(0.0), data, batches=[(list(images), list(targets))])
    assert perfect.map == pytest.approx(1.0) and perfect.map_50 == pytest.approx(1.0) and perfect.images == 2
    assert perfect.map_small == pytest.approx(1.0) and perfect.map_medium is None and perfect.map_large is None
    off = evaluate_detector(Echo(15.0), data, batches=[(list(images), list(targets))])
    assert off.map_50 < 0.5


def test_predict_keeps_the_best_class_of_each_object(tmp_path: Path) -> None:
    from PIL import Image

    from shufflenet.detection import detect_files

    Image.new("RGB", (40, 40), "gray").save(tmp_path / "a.png")

    class Fixed(torch.nn.Module):  # a shirt and a (weaker) coat on one object, a separate bag
        def forward(self, batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            boxes = torch.tensor([[2.0, 2, 20, 20], [3, 2, 20, 21], [25, 25, 38, 38]])
            return [{"boxes": boxes, "scores": torch.tensor([0.9, 0.6, 0.5]), "labels": torch.tensor([1, 2, 3])}]

    found = detect_files(Fixed(), [tmp_path / "a.png"], ["shirt", "coat", "bag"], out_dir=tmp_path / "drawn")
    assert [(d.label, round(d.score, 1)) for d in found] == [("shirt", 0.9), ("bag", 0.5)]
    assert (tmp_path / "drawn" / "a.png").exists()
    assert len(detect_files(Fixed(), [tmp_path / "a.png"], ["shirt", "coat", "bag"], iou_thresh=1.0)) == 3
    (tmp_path / "b.png").write_bytes(b"not an image")  # one bad file in a folder: named and skipped
    calls: list[tuple[int, int]] = []
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 image\(s\): cannot decode image .*b.png"):
        found = detect_files(Fixed(), [tmp_path / "b.png", tmp_path / "a.png"], ["shirt", "coat", "bag"],
                             skip_unreadable=True, progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert {d.image for d in found} == {str(tmp_path / "a.png")} and calls[-1] == (2, 2)
    with pytest.raises(ValueError, match="cannot decode image"):
        detect_files(Fixed(), [tmp_path / "b.png", tmp_path / "a.png"], ["shirt", "coat", "bag"])
    with pytest.raises(ValueError, match="score_thresh must be between 0 and 1, got 2"):
        detect_files(Fixed(), [tmp_path / "a.png"], ["shirt", "coat", "bag"], score_thresh=2)


def test_images_of_one_name_are_drawn_side_by_side(tmp_path: Path) -> None:
    from PIL import Image

    from shufflenet.detection import detect_files

    paths = []
    for folder, name, colour in (("x", "a.png", "red"), ("y", "a-2.png", "green"), ("y", "a.jpg", "blue")):
        (tmp_path / folder).mkdir(exist_ok=True)
        Image.new("RGB", (16, 16), colour).save(tmp_path / folder / name)
        paths.append(tmp_path / folder / name)

    class Nothing(torch.nn.Module):
        def forward(self, batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            return [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}]

    detect_files(Nothing(), paths, ["thing"], out_dir=tmp_path / "drawn")
    brightest = {p.name: max(range(3), key=Image.open(p).convert("RGB").getpixel((8, 8)).__getitem__)
                 for p in (tmp_path / "drawn").iterdir()}  # fmt: skip
    assert brightest == {"a.png": 0, "a-2.png": 1, "a-3.png": 2}  # red, green, blue: none drawn over another


def test_a_classifier_checkpoint_starts_the_backbone(fake_fmnist: Path, tmp_path: Path) -> None:
    from helpers import fake_checkpoint
    from shufflenet.detection import detector_from_checkpoint

    make_detection_set(tmp_path / "set", train_images=4, val_images=2, img_size=64, data_dir=str(fake_fmnist))
    source = fake_checkpoint(tmp_path / "cls.pt", ["a", "b"], in_chans=3, size=96)
    base = dict(data_dir=str(tmp_path / "set"), img_size=64, fpn_channels=32, epochs=1, batch_size=4, lr=1e-9)
    train_detector(DetectConfig(**base, pretrained=str(source), out_dir=str(tmp_path / "det")))
    state = load_detector_checkpoint(tmp_path / "det" / "last.pt")
    assert state["config"]["mean"] == (0.5, 0.5, 0.5) and state["config"]["std"] == (0.25, 0.25, 0.25)
    detector = detector_from_checkpoint(state)  # rebuilt without the source: the same network and normalisation
    assert detector.transform.image_mean == [0.5, 0.5, 0.5]
    weights = torch.load(source, weights_only=True)["model"]
    key = next(k for k in weights if k.startswith("stages.") and weights[k].dim() == 4)  # a conv, not a BN
    assert torch.allclose(detector.backbone.body.state_dict()[key], weights[key], atol=1e-6)  # lr ~0: unchanged
    with pytest.raises(ValueError, match="holds a shufflenet_v2_x0_5, not a shufflenet_v2_x1_0; give --backbone"):
        train_detector(DetectConfig(**base, backbone="shufflenet_v2_x1_0", pretrained=str(source),
                                    out_dir=str(tmp_path / "other")))  # fmt: skip
    small = fake_checkpoint(tmp_path / "small.pt", ["a", "b"], in_chans=3, size=32)
    with pytest.raises(ValueError, match="trained with small_input"):
        train_detector(DetectConfig(**base, pretrained=str(small), out_dir=str(tmp_path / "small_det")))
    with pytest.raises(ValueError, match="give mean and std together"):
        DetectConfig(**base, mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="the backbone takes 1-channel images but a detector reads RGB ones"):
        create_detector("shufflenet_v2_x0_5", 2, pretrained="fashion-mnist")


def _straight_and_resumed(base: dict, tmp_path: Path) -> tuple[dict, dict, list[dict]]:
    """The last checkpoints of a run trained straight through and of one cut after epoch 1 and resumed, and the
    resumed run's history."""
    train_detector(DetectConfig(**base, out_dir=str(tmp_path / "straight")))

    def interrupt(event: dict) -> None:
        if event["event"] == "epoch" and event["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_detector(DetectConfig(**base, out_dir=str(tmp_path / "cut")), progress=interrupt)
    history = train_detector(
        DetectConfig(**base, out_dir=str(tmp_path / "cut")), resume=str(tmp_path / "cut" / "last.pt")
    )
    straight, resumed = (load_detector_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "cut"))
    return straight, resumed, history


def test_train_resume_eval_predict(fake_fmnist: Path, tmp_path: Path, capsys) -> None:
    make_detection_set(tmp_path / "set", train_images=8, val_images=4, img_size=64, data_dir=str(fake_fmnist))
    base = dict(data_dir=str(tmp_path / "set"), img_size=64, fpn_channels=64, epochs=2, batch_size=4, threads=1)
    straight, resumed, history = _straight_and_resumed(base, tmp_path)
    assert len(history) == 2 and resumed["epoch"] == 2
    for key, value in straight["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    ckpt = str(tmp_path / "straight" / "last.pt")
    assert read_history(tmp_path / "straight") == straight["history"]  # history.json, as a classifier's run
    assert main(["curves", ckpt, "--out", str(tmp_path / "det-curves.png"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["score"] == "val_map_50"
    assert main(["detect", "eval", ckpt, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["images"] == 4 and 0 <= record["map_50"] <= 1
    assert main(["detect", "predict", ckpt, str(tmp_path / "set" / "val"), "--score-thresh", "0", "--out",
                 str(tmp_path / "drawn"), "--format", "json"]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == [f"00000{i}.png" for i in range(4)]
    assert main(["detect", "export", ckpt, "-o", str(tmp_path / "det.onnx")]) == 0
    assert "verified on 4 images" in capsys.readouterr().out and (tmp_path / "det.onnx").stat().st_size > 0
    info = describe(tmp_path / "det.onnx")  # the file says what it finds
    assert info["kind"] == "exported ONNX detector" and info["classes"] == len(straight["classes"]) > 0
    assert info["detector"] == "FCOS" and info["backbone"] == "shufflenet_v2_x0_5" and info["trained at side"] == 64
    with pytest.raises(ValueError, match="det.onnx is an exported detector .*, not a classifier"):
        Predictor(tmp_path / "det.onnx")
    (tmp_path / "set").rename(tmp_path / "moved")  # the data moved: named, and --data-dir finds it
    assert main(["detect", "export", ckpt, "-o", str(tmp_path / "det2.onnx")]) == 2
    assert "the images" in capsys.readouterr().err and not (tmp_path / "det2.onnx").exists()
    assert (
        main(["detect", "export", ckpt, "-o", str(tmp_path / "det2.onnx"), "--data-dir", str(tmp_path / "moved")]) == 0
    )
    assert "verified on 4 images of" in capsys.readouterr().out
    assert main(["detect", "eval", str(tmp_path / "moved" / "annotations" / "instances_val.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a readable detector checkpoint" in err[0]


def test_detect_train_flags_reach_the_config(fake_fmnist: Path, tmp_path: Path, capsys) -> None:
    """The CLI's flags, and only those given, become the run's config; the rest are DetectConfig's defaults."""
    make_detection_set(tmp_path / "set", train_images=4, val_images=2, img_size=64, data_dir=str(fake_fmnist))
    out = tmp_path / "run"
    argv = ["detect", "train", "--data-dir", str(tmp_path / "set"), "--img-size", "64", "--fpn-channels", "32",
            "--epochs", "1", "--batch-size", "2", "--threads", "1", "--no-hflip", "--backbone-options",
            '{"se": true}', "--out", str(out)]  # fmt: skip
    assert main(argv) == 0 and "done: mAP@.5" in capsys.readouterr().out
    config = load_detector_checkpoint(out / "last.pt")["config"]
    assert (config["hflip"], config["backbone_options"], config["fpn_channels"], config["epochs"]) == (
        False,
        {"se": True},
        32,
        1,
    )
    assert (config["kind"], config["lr"], config["out_dir"]) == (DetectConfig.kind, DetectConfig.lr, str(out))
    assert main(argv) == 2  # the folder holds a run: named, with the three ways on
    assert "holds another run; continue it with --resume" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


def test_reduced_precision_and_workers_are_recorded_and_resumed(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU's way of training (autocast, the loss scaled in float16, images decoded by worker processes), its
    arithmetic run on the CPU: the checkpoint records what ran, and a cut run resumed ends where a straight one does."""
    from shufflenet.utils import host

    monkeypatch.setattr(host, "cpu_native", lambda precision: True)  # emulated where it is not native: same math
    make_detection_set(tmp_path / "set", train_images=8, val_images=4, img_size=64, data_dir=str(fake_fmnist))
    base = dict(data_dir=str(tmp_path / "set"), img_size=64, fpn_channels=32, epochs=2, batch_size=4, threads=1,
                precision="float16", workers=1)  # fmt: skip
    straight, resumed, _ = _straight_and_resumed(base, tmp_path)
    assert (straight["config"]["precision"], straight["config"]["workers"]) == ("float16", 1)
    assert straight["scaler"]["scale"] > 0 and resumed["scaler"] == straight["scaler"]
    for key, value in straight["model"].items():
        assert torch.equal(resumed["model"][key], value), key


@pytest.mark.gpu
def test_a_detector_trains_on_a_gpu_in_its_precision_with_workers(fake_fmnist: Path, tmp_path: Path) -> None:
    make_detection_set(tmp_path / "set", train_images=8, val_images=4, img_size=64, data_dir=str(fake_fmnist))
    cfg = DetectConfig(data_dir=str(tmp_path / "set"), img_size=64, fpn_channels=32, epochs=1, batch_size=4,
                       device="cuda", precision="auto", out_dir=str(tmp_path / "gpu"))  # fmt: skip
    history = train_detector(cfg)
    state = load_detector_checkpoint(tmp_path / "gpu" / "last.pt")
    assert state["config"]["precision"] != "auto" and state["config"]["workers"] >= 1  # resolved for the GPU
    assert history[0]["train_loss"] > 0 and "val_map_50" in history[0]


def test_an_emulated_precision_is_refused_before_the_data_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from shufflenet.utils import host

    monkeypatch.setattr(host, "cpu_native", lambda precision: False)
    cfg = DetectConfig(data_dir=str(tmp_path / "none"), precision="bfloat16", out_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"^bfloat16 on this CPU .* train with --precision float32 \(or auto\)$"):
        train_detector(cfg)
    assert not (tmp_path / "run").exists()
    argv = ["detect", "train", "--data-dir", str(tmp_path), "--workers", "-1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: workers (--workers) must be >= 0, got -1"]


@pytest.mark.slow  # two processes: CI runs it (make test SLOW=1)
def test_detect_train_under_torchrun(fake_fmnist: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    make_detection_set(tmp_path / "set", train_images=8, val_images=4, img_size=64, data_dir=str(fake_fmnist))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "shufflenet.cli.main", "detect", "train", "--data-dir", str(tmp_path / "set"), "--img-size", "64",
           "--epochs", "1", "--batch-size", "2", "--threads", "1", "--out", str(tmp_path / "ddp")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = load_detector_checkpoint(tmp_path / "ddp" / "last.pt")
    assert state["epoch"] == 1 and "val_map_50" in state["history"][0]
    assert (proc.stdout + proc.stderr).count("done: mAP@.5") == 1  # only rank 0 reports
    assert (tmp_path / "ddp" / "curves.png").read_bytes()[:4] == b"\x89PNG"  # drawn by rank 0


@pytest.mark.slow  # four backbones trained: CI runs it (make test SLOW=1)
def test_detection_benchmark_table(fake_fmnist: Path, tmp_path: Path, capsys) -> None:
    bench = load_benchmark("detection")
    make_detection_set(tmp_path / "set", train_images=4, val_images=2, img_size=64, data_dir=str(fake_fmnist))
    argv = ["--data-dir", str(tmp_path / "set"), "--epochs", "1", "--img-size", "64", "--threads", "1",
            "--out", str(tmp_path / "runs"), "--only", "0,1", "--seeds", "0,1", "--json", str(tmp_path / "t.json")]  # fmt: skip
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [r["backbone"] for r in rows] == ["ShuffleNet v2 0.5x", "ShuffleNet v2* 0.5x"]
    assert all(len(r["map_50"]) == 2 and r["latency_ms"] > 0 for r in rows)
    assert rows[1]["backbone_mflops"] > rows[0]["backbone_mflops"]  # v2*'s extra depthwise convs
    assert table.count("| ShuffleNet v2") == 2 and (tmp_path / "runs" / "shufflenet_v2_x0_5_star_seed1").is_dir()
    stamp = (tmp_path / "runs" / "shufflenet_v2_x0_5" / "last.pt").stat().st_mtime_ns
    assert bench.main(argv) == 0  # finished runs are reused, not trained again
    assert (tmp_path / "runs" / "shufflenet_v2_x0_5" / "last.pt").stat().st_mtime_ns == stamp
