"""pretrained="imagenet" through torchvision's weights API, tested on state dicts the tests make
(same keys and shapes as torchvision's files; nothing is downloaded)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from shufflenet import create_model
from shufflenet.models._imagenet import cache_path


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and no network: a download attempt fails as it does offline."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in the test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "hub"


def _cached(name: str, net: torch.nn.Module) -> Path:
    path = cache_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "squeezenet1_1", "mobilenet_v2_x1_0"])
def test_imagenet_weights_give_torchvisions_logits(name: str, hub: Path) -> None:
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name.removesuffix("_x1_0")).__call__().eval()
    path = _cached(name, theirs)
    ours = create_model(name, pretrained="imagenet")
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    cfg = ours.pretrained_cfg
    assert cfg["input_size"] == [3, 224, 224] and cfg["mean"] == [0.485, 0.456, 0.406] and cfg["tag"] == "imagenet"
    assert len(cfg["class_names"]) == 1000 and cfg["class_names"][0] == "tench" and 0.85 <= cfg["crop_pct"] < 1
    from_file = create_model(name, pretrained=str(path))  # a local torchvision state-dict file
    with torch.no_grad():
        torch.testing.assert_close(from_file(x), theirs(x), rtol=0, atol=0)


def test_reference_network_keeps_its_classifier(hub: Path) -> None:
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18().eval()
    _cached("resnet18", theirs)
    ours = create_model("resnet18", pretrained="imagenet")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_offline_and_absent_names_the_file_and_where_to_put_it(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileNotFoundError) as info:
        create_model("shufflenet_v2_x1_0", pretrained="imagenet")
    message = str(info.value)
    assert str(hub / "checkpoints" / "shufflenetv2_x1-5666bf0f80.pth") in message
    assert "https://download.pytorch.org/models/shufflenetv2_x1-5666bf0f80.pth" in message and "\n" not in message
    assert capsys.readouterr() == ("", "")  # not torch's 'Downloading: ...' line, on stdout, before the error
    assert not (hub / "checkpoints" / "shufflenetv2_x1-5666bf0f80.pth").exists()


def test_a_download_lands_in_the_cache_checked_and_a_broken_file_is_named(
    hub: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    theirs = torchvision.models.shufflenet_v2_x0_5().eval()
    asked: list[tuple[str, str | None]] = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        asked.append((url, hash_prefix))
        torch.save(theirs.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    ours = create_model("shufflenet_v2_x0_5", pretrained="imagenet")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert asked == [("https://download.pytorch.org/models/shufflenetv2_x0.5-f707e7126e.pth", "f707e7126e")]
    create_model("shufflenet_v2_x0_5", pretrained="imagenet")  # now from the cache: no second download
    assert len(asked) == 1 and capsys.readouterr().out == ""

    def corrupt(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0123")')  # as torch.hub says it

    monkeypatch.setattr(torch.hub, "download_url_to_file", corrupt)
    with pytest.raises(ValueError, match=r"resnet18-f37072fd\.pth downloaded, but it is not the file torchvision "):
        create_model("resnet18", pretrained="imagenet")
    cached = _cached("resnet18", torchvision.models.resnet18())
    cached.write_bytes(cached.read_bytes()[:5000])  # a cut copy
    with pytest.raises(ValueError, match=r"resnet18-f37072fd\.pth is not a readable resnet18 file .*; delete it"):
        create_model("resnet18", pretrained="imagenet")
    cached = _cached("shufflenet_v2_x0_5", theirs)
    cached.write_bytes(cached.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"shufflenetv2_x0\.5-f707e7126e\.pth is not a readable weights file"):
        create_model("shufflenet_v2_x0_5", pretrained="imagenet")


def test_models_without_imagenet_weights_and_foreign_files(hub: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="torchvision has no ImageNet weights for shufflenet_v1_g3_x1_0"):
        create_model("shufflenet_v1_g3_x1_0", pretrained="imagenet")
    other = tmp_path / "mbv2.pth"
    torch.save(torchvision.models.mobilenet_v2().state_dict(), other)
    with pytest.raises(
        ValueError, match="shufflenet_v2_x1_0 is not a mobilenet_v2 model; these are torchvision mobilenet_v2 weights"
    ):
        create_model("shufflenet_v2_x1_0", pretrained=str(other))
    with pytest.raises(FileNotFoundError):
        create_model("shufflenet_v2_x1_0", pretrained=str(tmp_path / "missing.pth"))


def test_preprocess_matches_torchvisions_imagenet_transform(tmp_path: Path) -> None:
    from PIL import Image

    from shufflenet.data.images import preprocess
    from shufflenet.models import imagenet_cfg

    rng = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (180, 300, 3), dtype=torch.uint8, generator=rng).numpy()
    Image.fromarray(pixels).save(tmp_path / "x.png")
    ours = preprocess([tmp_path / "x.png"], imagenet_cfg("shufflenet_v2_x1_0"))
    weights = torchvision.models.ShuffleNet_V2_X1_0_Weights.DEFAULT
    theirs = weights.transforms()(Image.open(tmp_path / "x.png").convert("RGB"))
    assert ours.shape == (1, 3, 224, 224)
    torch.testing.assert_close(ours[0], theirs, rtol=0, atol=1e-5)


def test_training_starts_from_imagenet_weights(hub: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from shufflenet.train import TrainConfig, load_checkpoint, train

    torch.manual_seed(0)
    theirs = torchvision.models.shufflenet_v2_x0_5()
    _cached("shufflenet_v2_x0_5", theirs)
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(tmp_path / "data" / c / f"{i}.png")
    for init in ("imagenet", "shufflenet_v2_x0_5:imagenet"):
        out = tmp_path / init.replace(":", "_")
        cfg = TrainConfig(model="shufflenet_v2_x0_5", dataset="imagefolder", data_dir=str(tmp_path / "data"),
                          img_size=64, init=init, freeze_stages=3, epochs=1, batch_size=4, out_dir=str(out))  # fmt: skip
        with pytest.warns(UserWarning, match="no --val-dir or --val-split: the validation scores are on the training"):
            train(cfg)
        state = load_checkpoint(out / "last.pt")
        assert state["arch"]["num_classes"] == 2 and state["data"]["mean"] == [0.485, 0.456, 0.406]
        aligned = dict(zip(state["model"], theirs.state_dict().values()))  # ours by position, as loaded
        first = next(k for k in state["model"] if k.startswith("stages.2."))
        assert torch.equal(state["model"][first], aligned[first])  # frozen: still ImageNet's
