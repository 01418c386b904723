from pathlib import Path

import pytest

from shufflenet.cli.main import main
from shufflenet.train import TrainConfig
from shufflenet.train.ablate import AblationResult, run_ablation


def test_shuffle_ablation_trains_both_variants(fake_fmnist: Path, tmp_path: Path) -> None:
    base = TrainConfig(
        data_dir=str(fake_fmnist), epochs=1, batch_size=64, threads=1, crop_padding=0, out_dir=str(tmp_path)
    )
    result = run_ablation("shuffle", base, width=0.25, groups=(3,))
    assert set(result.errors) == {(3, False), (3, True)}
    assert all(0 <= e <= 100 for e in result.errors.values())
    headers, rows = result.rows()
    assert headers[1] == "no shuffle err %" and rows[0][0] == "ShuffleNet 0.25x (g = 3)" and rows[0][4] == "56.3 / 55.0"
    assert (tmp_path / "shufflenet_v1_g3_x0_25_noshuffle" / "last.pt").is_file()
    assert list(result.histories) == ["shufflenet_v1_g3_x0_25_noshuffle", "shufflenet_v1_g3_x0_25"]
    assert all(h[0]["epoch"] == 1 for h in result.histories.values())


def test_groups_table_layout() -> None:
    r = AblationResult("groups", 0.5, {(1, True): 12.0, (3, True): 10.5})
    headers, rows = r.rows()
    assert headers == ("model", "g = 1", "g = 3") and rows == [("ShuffleNet 0.5x", "12.00", "10.50")]


def test_ablate_cli(fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ablate", "groups", "--width", "0.25", "--groups", "1", "--epochs", "1", "--data-dir", str(fake_fmnist),
            "--threads", "1", "--out", str(tmp_path), "--format", "md"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "| ShuffleNet 0.25x |" in out.out and f"curves written to {tmp_path / 'curves-groups.png'}" in out.err
    assert (tmp_path / "curves-groups.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["ablate", "shuffle", "--width", "0.3"]) == 2
    with pytest.raises(ValueError, match="unknown ablation"):
        run_ablation("depth", TrainConfig())
