"""The one guarded image reader: every mode in, 16-bit scaled (not clipped), bombs refused from the header,
and a folder's unreadable files named and skipped with a count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shufflenet.data import load_image_folder
from shufflenet.data.images import decode_size, find_images, open_image, preprocess, to_input


def test_sixteen_bit_and_float_images_are_scaled_like_their_eight_bit_original(tmp_path: Path) -> None:
    grey = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")  # I;16: PIL's convert would clip
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    a8, a16 = (np.asarray(open_image(tmp_path / f, "L")) for f in ("g8.png", "g16.png"))
    np.testing.assert_array_equal(a8, a16)
    rgb16 = np.asarray(open_image(tmp_path / "g16.png", "RGB"))
    assert rgb16.shape == (28, 28, 3) and np.array_equal(rgb16[..., 1], a8)
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "unit.tiff")  # float TIFFs: 0-1 and 0-255
    Image.fromarray(grey.astype(np.float32)).save(tmp_path / "bytes.tif")
    for name in ("unit.tiff", "bytes.tif"):
        assert Image.open(tmp_path / name).mode == "F"
        np.testing.assert_array_equal(np.asarray(open_image(tmp_path / name, "L")), a8)
    assert {p.name for p in find_images([str(tmp_path)])} == {"g8.png", "g16.png", "unit.tiff", "bytes.tif"}


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "1", "CMYK", "I", "F"])
def test_every_mode_comes_in(tmp_path: Path, mode: str) -> None:
    img = Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).convert(mode)
    path = tmp_path / ("x.tif" if mode in ("I", "F", "CMYK") else "x.png")
    img.save(path)
    for want in ("L", "RGB"):
        out = open_image(path, want)
        assert out.mode == want and out.size == (8, 8)


def test_folders_name_and_skip_unreadable_files(tmp_path: Path) -> None:
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), 50 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) of 7: .*bad.png"):
        folder = load_image_folder(tmp_path, in_chans=1)
    assert len(folder) == 6 and folder.classes == ("a", "b") and len(folder.skipped) == 1
    good = tmp_path / "b" / "2.png"  # a header that reads, data that does not: found while decoding
    data = bytearray(good.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 4 : idat + 12] = b"\xff" * 8  # the compressed pixels, broken
    good.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):  # bad.png, as before
        folder = load_image_folder(tmp_path, in_chans=1)
    with pytest.warns(UserWarning, match="skipped an unreadable image"):
        images = [folder[i] for i in range(len(folder))]
    assert len(images) == 6 and str(good) in folder.skipped


def test_a_large_jpeg_is_decoded_small_but_never_below_the_resize_before_the_crop(tmp_path: Path) -> None:
    # JPEG's draft mode decodes at 1/2, 1/4 or 1/8: for ImageNet weights (shorter side to 256, centre 224) it must
    # stop at 256, not 224, or the image is enlarged again (1800 px: 225 px decoded, mean error 0.10 std, now 0.03)
    from shufflenet.models._imagenet import imagenet_cfg

    yy, xx = np.mgrid[0:1800, 0:1800]
    grey = (127 + 60 * np.sin(xx / 7.0) + 60 * np.cos(yy / 5.0)).astype(np.uint8)
    Image.fromarray(np.stack([grey, grey[::-1], grey.T], 2)).save(tmp_path / "big.jpg", quality=92)
    cfg = imagenet_cfg("shufflenet_v2_x1_0")
    assert decode_size(cfg) == (256, 256) and open_image(tmp_path / "big.jpg", "RGB", decode_size(cfg)).size == (
        450,
        450,
    )
    exact = to_input(open_image(tmp_path / "big.jpg", "RGB"), cfg)
    assert (preprocess([tmp_path / "big.jpg"], cfg)[0] - exact).abs().mean() < 0.05
