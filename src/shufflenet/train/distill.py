"""Knowledge distillation (``train --teacher``): the student also learns trained networks' class probabilities.

A teacher's probabilities say what one-hot labels cannot: which wrong classes an image resembles, and how much
(Hinton et al., 2015). The teacher here sees the very batch the student sees, crops, flips, erasing and CutMix
included, so its targets describe the image being learnt ("consistent" teaching, Beyer et al., 2022), not a clean
copy of it. Several teachers give the mean of their probabilities, and ``teacher_tta`` also averages each teacher
over the batch's mirror image: both make targets better than any one network alone, at one forward pass each.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from shufflenet.layers.deploy import deploy
from shufflenet.train.config import autocast_to
from shufflenet.train.init import load_init

__all__ = ["Teacher", "distill_loss", "load_teacher"]


class Teacher:
    """Frozen networks whose mean class probability (at ``temperature``) is the student's soft target."""

    def __init__(
        self,
        nets: Sequence[nn.Module],
        *,
        temperature: float = 1.0,
        tta: bool = False,
        precision: str = "float32",
        renorm: Sequence[tuple[Tensor, Tensor] | None] | None = None,
        one_call: bool | None = None,
    ) -> None:
        self.nets = [net.eval().requires_grad_(False) for net in nets]
        self.temperature, self.tta, self.precision = temperature, tta, precision
        # with tta: the batch and its mirror image in one call of twice the batch (None: on a GPU, which is
        # launch-bound; on a CPU two calls ran 1.37x faster, the larger batch's activations leaving the cache)
        self.one_call = one_call
        # per network: (scale, shift) from the student's normalised input to the teacher's (None: both were normalised
        # alike), so a teacher trained with other statistics sees what it was trained on
        self.renorm = list(renorm) if renorm is not None else [None] * len(self.nets)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        """Target probabilities (float32, rows sum to 1) for the batch ``x`` the student is given."""
        views = [x, x.flip(-1)] if self.tta else [x]
        answers = len(self.nets) * len(views)  # each network's answer to each view, averaged
        if len(views) > 1 and (self.one_call if self.one_call is not None else x.device.type == "cuda"):
            views = [torch.cat(views)]
        total = torch.zeros((), device=x.device)
        for net, renorm in zip(self.nets, self.renorm):
            for view in views:
                inp = view if renorm is None else view * renorm[0] + renorm[1]
                with autocast_to(self.precision, x.device):
                    logits = net(inp)
                probs = (logits.float() / self.temperature).softmax(1)
                total = total + probs.unflatten(0, (-1, len(x))).sum(0)
        return total / answers


def distill_loss(logits: Tensor, target: Tensor, temperature: float = 1.0) -> Tensor:
    """KL divergence of the student's softened probabilities from the teacher's ``target``, times the temperature
    squared so that its gradients keep their scale as the temperature changes (Hinton et al.)."""
    log_p = (logits.float() / temperature).log_softmax(1)
    return nn.functional.kl_div(log_p, target, reduction="batchmean") * temperature**2


def load_teacher(
    refs: Sequence[str],
    *,
    classes: Sequence[str],
    in_chans: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    temperature: float = 1.0,
    tta: bool = False,
    precision: str = "float32",
) -> Teacher:
    """The networks ``refs`` names (MODEL:TAG, a checkpoint or a .safetensors file, as ``--init`` takes), checked
    against the run's data: the same classes in the same order and the same input channels; a teacher normalised
    differently is given the input it expects. Each runs in its inference form (:func:`~shufflenet.layers.deploy.deploy`)."""
    nets, renorms = [], []
    for ref in refs:  # a bare "imagenet" is V2 1x's ImageNet weights; MODEL:imagenet names any other network's
        net, _ = load_init(ref, "shufflenet_v2_x1_0", flag="--teacher")
        cfg = getattr(net, "pretrained_cfg", None) or {}
        names = cfg.get("class_names")
        if int(net.num_classes) != len(classes) or (names and list(names) != list(classes)):  # type: ignore[arg-type]
            have = _listed(names) if names else f"{net.num_classes} classes"
            raise ValueError(f"--teacher {ref} predicts {have}, not this run's {len(classes)} classes "
                             f"({_listed(classes)}); a teacher must be trained on the same classes, in the same order")  # fmt: skip
        if int(net.in_chans) != in_chans:  # type: ignore[arg-type]
            raise ValueError(f"--teacher {ref} takes {net.in_chans}-channel images, this run's have {in_chans}")
        nets.append(deploy(net).to(device))  # frozen: BN folded into the convs (1.15x faster, benchmarks/teacher.py)
        renorms.append(_renormalise(cfg, mean, std, device))
    return Teacher(nets, temperature=temperature, tta=tta, precision=precision, renorm=renorms)


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def _renormalise(
    cfg: dict[str, object], mean: Sequence[float], std: Sequence[float], device: torch.device
) -> tuple[Tensor, Tensor] | None:
    """(scale, shift) taking input normalised by ``mean``/``std`` to the teacher's normalisation; None if the same."""
    t_mean, t_std = cfg.get("mean"), cfg.get("std")
    if t_mean is None or t_std is None:  # a source that does not say: assume the run's
        return None
    m, s = torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
    tm, ts = torch.tensor(t_mean, dtype=torch.float32), torch.tensor(t_std, dtype=torch.float32)
    if torch.allclose(m, tm, atol=1e-6) and torch.allclose(s, ts, atol=1e-6):
        return None
    scale, shift = s / ts, (m - tm) / ts  # x_t = (x * s + m - tm) / ts
    return scale.view(1, -1, 1, 1).to(device), shift.view(1, -1, 1, 1).to(device)
