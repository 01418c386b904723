import pytest
import torch

from shufflenet import analyze
from shufflenet.bench.guidelines import (
    EXPERIMENTS,
    GPU_EXPERIMENTS,
    TIE,
    GuidelineResult,
    build_block,
    get_experiment,
    run_guideline,
)

# The paper's widths make FLOPs equal only approximately (G1: 32*32 vs 22*44 is 5% apart, 90*180*2 vs 128*128*2 1%).
TOLERANCE = {"G1": 0.06, "G2": 0.06, "G3": 0.03, "G4": 0.0}


@pytest.mark.parametrize("platform", ["cpu", "gpu"])
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_variants_have_equal_flops(name: str, platform: str) -> None:
    exp = get_experiment(name, platform)
    for scale in exp.scales:
        flops = []
        for v in exp.variants:
            block, chs = build_block(name, v.label, scale, platform)
            flops.append(analyze(block, (1, chs, 56, 56)).flops)
        assert max(flops) <= (1 + TOLERANCE[name]) * min(flops), (scale, flops)


def test_g1_mac_grows_with_channel_ratio() -> None:
    """G1's point, checked on the analyser: at (about) equal FLOPs, 1:1 has the lowest MAC."""
    exp = EXPERIMENTS["G1"]
    macs = []
    for v in exp.variants:
        block, chs = build_block("G1", v.label, 1)
        macs.append(analyze(block, (1, chs, 56, 56)).mac)
    assert macs == sorted(macs)


def test_g4_variants_differ_only_in_elementwise_work() -> None:
    macs = {}
    for v in EXPERIMENTS["G4"].variants:
        block, chs = build_block("G4", v.label, 32)
        macs[v.label] = analyze(block, (1, chs, 56, 56)).mac
    assert macs["neither"] < macs["no ReLU"] < macs["ReLU + shortcut"]


def test_run_guideline_smoke_and_verdicts() -> None:
    result = run_guideline("G4", scales=[32], threads=1, min_time_s=0.03, rounds=1)
    exp = result.experiment
    assert all(result.images_per_s[(v.label, 32)] > 0 for v in exp.variants)
    data = result.to_dict()
    assert [r["variant"] for r in data["rows"]] == [v.label for v in exp.variants]
    # the record states the verdict its own measured rates give (whether G4 holds here is a benchmark's claim,
    # benchmarks/report.py, not a test's: it depends on the host)
    for claim, (faster, slower) in zip(data["claims"], exp.claims, strict=True):
        rate = {r["variant"]: r["images_per_s"] for r in data["rows"]}
        margin = rate[faster] / rate[slower]
        want = "holds" if margin > 1 + TIE else "reversed" if margin < 1 - TIE else "tie"
        assert claim["verdict"]["32"] == want == result.verdict(faster, slower, 32)


def test_verdict_thresholds() -> None:
    r = GuidelineResult(EXPERIMENTS["G4"], images_per_s={("a", 1): 110.0, ("b", 1): 100.0, ("c", 1): 101.0})
    assert r.verdict("a", "b", 1) == "holds" and r.verdict("b", "a", 1) == "reversed"
    assert r.verdict("c", "b", 1) == "tie"


def test_the_gpu_table_has_the_papers_gpu_widths_and_compares_at_its_batch() -> None:
    g1, g2, g3 = (GPU_EXPERIMENTS[n] for n in ("G1", "G2", "G3"))
    assert [v.label for v in g1.variants][0] == "128:128 (1:1)" and g3.scales == (128, 256, 512)
    assert [build_block("G2", v.label, 1, "gpu")[1] for v in g2.variants] == [128, 180, 256, 360]
    assert [(a.split(":")[0], b.split(":")[0]) for a, b in g1.claims] == [("128", "90"), ("90", "52"), ("52", "36")]
    first = g1.variants[0]
    rates = {(v.label, 1): 8 * 740.0 for v in g1.variants}  # 740 batches/s of 8 images
    on_gpu = GuidelineResult(g1, scales=[1], images_per_s=rates, batch=8, device="cuda:0", flops=dict.fromkeys(rates, 1),
                             mac=dict.fromkeys(rates, 1))  # fmt: skip
    assert on_gpu.vs_paper(first) == pytest.approx(740 / 1480)
    assert on_gpu.to_dict()["rows"][0]["vs_paper_gpu"] == pytest.approx(0.5)
    assert GuidelineResult(g1, scales=[1], images_per_s=rates, batch=1, device="cuda:0").vs_paper(first) is None
    assert GuidelineResult(EXPERIMENTS["G1"], scales=[1], images_per_s=rates, batch=8).vs_paper(first) is None
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            run_guideline("G1", device="cuda")
    with pytest.raises(ValueError, match="unknown platform 'tpu'"):
        get_experiment("G1", "tpu")


def test_unknown_guideline() -> None:
    with pytest.raises(ValueError, match="unknown guideline 'G5'"):
        get_experiment("G5")
