"""LPIPS (AlexNet), where the ``lpips`` package imports and torchvision's AlexNet weights
(``alexnet-owt-7be5be79.pth``) lie in the folder given: ``LPIPS`` is the reference's protocol (each
sample against its own ground-truth image), ``LPIPS-diversity`` the usual one (mean distance between
samples of the same mask, the SPADE/SDM convention).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from symmflow.judge_weights import ALEXNET_FILE, MetricUnavailable, judge_missing


def lpips_missing(weights_dir: Path | None) -> str | None:
    """None when AlexNet LPIPS can run; else the reason it cannot."""
    return judge_missing("lpips", "lpips", ALEXNET_FILE, "AlexNet", weights_dir)


def _load_alexnet_trunk(trunk: torch.nn.Module, file: Path) -> None:
    """Copy torchvision's AlexNet ``features.<i>.*`` tensors into lpips' slices (``slice<k>.<i>.*``)."""
    from symmflow.errors import UsageError

    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: one line, nothing of it executed
        raise UsageError(f"{file} is not torchvision's AlexNet state dict ({' '.join(str(error).split())[:200]}); "
                         "pass the folder of the original alexnet-owt-7be5be79.pth") from None
    mine = trunk.state_dict()
    wanted = {name: "features." + name.split(".", 1)[1] for name in mine}
    missing = [source for source in wanted.values() if source not in state or not isinstance(state[source], Tensor)]
    if missing:
        raise UsageError(f"{file} lacks AlexNet's {missing[0]}; pass the folder of the original "
                         "alexnet-owt-7be5be79.pth")
    trunk.load_state_dict({name: state[source] for name, source in wanted.items()})


class LPIPS:
    """AlexNet LPIPS on images in [-1, 1]: ``paired`` (sample vs its ground truth) and ``diversity``."""

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        reason = lpips_missing(weights_dir)
        if reason:
            raise MetricUnavailable(reason)
        import lpips

        # the AlexNet trunk from the local torchvision file (tensors only), not torchvision's download;
        # the linear heads are the lpips package's own v0.1 weights
        self.net = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
        _load_alexnet_trunk(self.net.net, Path(weights_dir) / ALEXNET_FILE)
        self.net = self.net.to(device).eval()
        self.device = device

    @torch.no_grad()
    def paired(self, samples: Tensor, truth: Tensor) -> Tensor:
        return self.net(samples.to(self.device), truth.to(self.device)).flatten()

    @torch.no_grad()
    def diversity(self, groups: Tensor) -> Tensor:
        """Mean LPIPS over all pairs within each group (G, K, 3, H, W) -> (G,)."""
        k = groups.shape[1]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        values = [self.net(groups[:, i].to(self.device), groups[:, j].to(self.device)).flatten()
                  for i, j in pairs]
        return torch.stack(values, 1).mean(1)
