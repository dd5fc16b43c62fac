"""Diffusion Classifier (Li et al. 2023) on a class-conditional flow-matching model.

Bayes over a class-conditional generative model (paper section 3.2, notes section 8): for
each candidate class c, the mean prediction error E_{t, eps} |v - v_theta(x_t, t, c)| over
sampled times, with the same noise eps for every class at a given time; the class with the
smallest error wins.  With flow matching the prediction is the velocity, so the error is
taken on it (v = x - (1 - sigma) eps is affine in eps at a fixed t, so this is the
epsilon error reweighted per time).

The adaptive schedule works in stages over a fixed grid of candidate times
t_j = (j + 1/2) / N: stage s brings the times evaluated so far up to ``times[s]`` (evenly
spaced over the grid, skipping those already done), for the classes still in the race, and
then keeps the ``keep[s]`` classes of smallest mean error.  The published CIFAR-10 run:
N = 500, 50 times for all 10 classes, keep 5, the other 450 times for those 5, L1 error --
2,750 network evaluations per image (:data:`PUBLISHED`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from symmflow.path import SymmetricPath


@dataclass(frozen=True)
class Schedule:
    times: tuple[int, ...] = (50, 500)
    """Cumulative number of times evaluated after each stage; the last is the grid size N."""
    keep: tuple[int, ...] = (5, 1)
    """Classes kept after each stage."""
    error: str = "l1"

    def __post_init__(self) -> None:
        if len(self.times) != len(self.keep) or not self.times:
            raise ValueError("times and keep need one entry per stage")
        if any(b <= a for a, b in zip(self.times, self.times[1:])) or self.times[0] <= 0:
            raise ValueError(f"stage times must increase from a positive count, got {self.times}")
        if self.error not in ("l1", "l2"):
            raise ValueError(f"error must be 'l1' or 'l2', got {self.error!r}")

    def nfe(self, num_classes: int) -> int:
        """Network evaluations per image: new times x classes still in the race, per stage."""
        total, done, alive = 0, 0, num_classes
        for n, k in zip(self.times, self.keep):
            total += (n - done) * alive
            done, alive = n, min(alive, k)
        return total

    def label(self) -> str:
        stages = ", ".join(f"{n} t keep {k}" for n, k in zip(self.times, self.keep))
        return f"{stages} ({self.error.upper()})"


#: The schedule of the published comparison (notes section 8): 2,750 NFE for 10 classes.
PUBLISHED = Schedule((50, 500), (5, 1), "l1")


def stage_indices(grid: int, count: int) -> list[int]:
    """``count`` evenly spaced indices of a grid of ``grid`` times (Diffusion Classifier's spacing)."""
    step = grid // count
    return list(range(step // 2, grid, step))[:count]


@torch.no_grad()
def classify(model, images: Tensor, num_classes: int, schedule: Schedule = PUBLISHED, *,
             path: SymmetricPath | None = None, seed: int = 0, batch_rows: int = 500,
             progress: bool = False) -> tuple[Tensor, Tensor]:
    """Predicted labels (B,) and scores (B, n) = minus the mean error per class.

    ``model(x_t, labels, t) -> v`` (wrap it in :class:`symmflow.solver.NFECounter` to count).
    Image i's noise comes from a generator seeded with ``seed`` and i, so results do not
    depend on how the images are batched.
    """
    path = path or SymmetricPath()
    grid = schedule.times[-1]
    b, device = len(images), images.device
    t_grid = (torch.arange(grid, dtype=torch.float32, device=device) + 0.5) / grid
    err_sum = torch.zeros(b, num_classes, device=device)
    err_cnt = torch.zeros(b, num_classes, device=device)
    alive = torch.ones(b, num_classes, dtype=torch.bool, device=device)
    noise = torch.stack([torch.randn((grid, *images.shape[1:]), generator=torch.Generator().manual_seed(
        seed * 1_000_003 + i)) for i in range(b)]).to(device)  # (B, N, C, H, W), shared over classes
    done: set[int] = set()
    bar = tqdm(total=schedule.nfe(num_classes) * b, desc="diffusion classifier",
               disable=not progress, unit="nfe", dynamic_ncols=True)
    for count, keep in zip(schedule.times, schedule.keep):
        new = [j for j in stage_indices(grid, count) if j not in done]
        done.update(new)
        # every (image, time, class) row of this stage
        img, cls = alive.nonzero(as_tuple=True)
        new_t = torch.tensor(new, device=device)
        rows_img = img.repeat_interleave(len(new))
        rows_cls = cls.repeat_interleave(len(new))
        rows_t = new_t.repeat(len(img))
        for start in range(0, len(rows_img), batch_rows):
            i, c, j = (r[start:start + batch_rows] for r in (rows_img, rows_cls, rows_t))
            t = t_grid[j]
            x_t, target = path.image_part(images[i], t, noise[i, j])
            diff = model(x_t, c, t).float() - target.float()
            err = diff.abs().flatten(1).mean(1) if schedule.error == "l1" else diff.square().flatten(1).mean(1)
            err_sum.index_put_((i, c), err, accumulate=True)
            err_cnt.index_put_((i, c), torch.ones_like(err), accumulate=True)
            bar.update(len(i))
        mean = torch.where(err_cnt > 0, err_sum / err_cnt.clamp(min=1), torch.inf)
        ranked = mean.masked_fill(~alive, torch.inf).argsort(1)[:, :keep]
        alive = torch.zeros_like(alive).scatter_(1, ranked, True)
    bar.close()
    mean = err_sum / err_cnt.clamp(min=1)
    scores = -mean.masked_fill(err_cnt == 0, torch.inf)
    return mean.masked_fill(~alive, torch.inf).argmin(1), scores
