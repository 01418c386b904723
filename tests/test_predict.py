from pathlib import Path

import pytest
import torch

from shufflenet.predict import load_trained, predict_files


def test_predict_files_scores_a_folder_batch_by_batch_and_skips_a_bad_image(tmp_path: Path) -> None:
    from PIL import Image

    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        Image.new("L", (28, 28), 40 * i).save(paths[-1])
    paths.insert(2, tmp_path / "bad.png")
    paths[2].write_bytes(b"not an image")
    model = load_trained("shufflenet_v2_x0_5:fashion-mnist")
    seen: list[int] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    calls: list[tuple[int, int]] = []
    with pytest.warns(UserWarning, match=r"skipped 1 of 6 image\(s\): cannot decode image .*bad.png"):
        small = predict_files(model, paths, topk=2, skip_unreadable=True, batch_size=2,
                              progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert calls == [(2, 6), (4, 6), (6, 6)] and max(seen) <= 2  # never more than one batch in memory
    assert small[2] == [] and all(len(top) == 2 for i, top in enumerate(small) if i != 2)
    with pytest.warns(UserWarning):
        whole = predict_files(model, paths, topk=2, skip_unreadable=True)
    assert len(whole) == 6
    for a, b in zip(small, whole):  # the same scores, in the order of the paths, whatever the batching
        assert [c for c, _ in a] == [c for c, _ in b] and torch.allclose(torch.tensor([p for _, p in a]),
                                                                         torch.tensor([p for _, p in b]), atol=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="cannot decode image"):
        predict_files(model, paths, skip_unreadable=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        predict_files(model, paths, batch_size=0)
