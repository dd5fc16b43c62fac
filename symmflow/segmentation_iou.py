"""The mIoU of segmentation masks: torchmetrics ``MulticlassJaccardIndex`` accumulated over the
whole evaluation set (a dataset-level confusion matrix), with an ignore index: CelebAMask-HQ's
background (0) and the scene set's background are ignored as in the reference, COCO-Stuff's
unlabelled pixels (255) too (notes section 6).  Classes absent from both prediction and ground
truth do not enter the mean.  An id that is neither a class nor the ignore id, predicted or in the
ground truth, is a ``ValueError`` naming it.
"""

from __future__ import annotations

from torch import Tensor


class SegmentationIoU:
    """Streaming mIoU: ``update(pred, target)`` per batch, ``compute()`` once at the end."""

    def __init__(self, num_classes: int, ignore_index: int | None):
        from torchmetrics.classification import MulticlassJaccardIndex

        self.num_classes, self.ignore_index = num_classes, ignore_index
        # an ignore id outside the classes (COCO-Stuff's 255) becomes one extra, ignored class,
        # as the reference's 172 classes: a prediction of "unlabelled" then counts as a miss
        self.outside = ignore_index if ignore_index is not None and ignore_index >= num_classes else None
        if self.outside is not None:
            ignore_index, num_classes = num_classes, num_classes + 1
        self.metric = MulticlassJaccardIndex(num_classes=num_classes, ignore_index=ignore_index,
                                             average="macro")

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch; an id that is neither a class nor the ignore id is a ``ValueError``."""
        pred, target = pred.long(), target.to(pred.device).long()
        if self.metric.device != pred.device:  # its state where the predictions are: NCCL syncs GPU tensors
            self.metric.to(pred.device)
        self._check_ids(pred, "predicted")
        self._check_ids(target, "target")
        if self.outside is not None:
            extra = self.metric.num_classes - 1
            pred, target = (pred.masked_fill(pred == self.outside, extra),
                            target.masked_fill(target == self.outside, extra))
        self.metric.update(pred, target)

    def compute(self) -> float:
        return float(self.metric.compute())

    def _check_ids(self, ids: Tensor, which: str) -> None:
        """torchmetrics would count an unknown id in another class's cell or fail obscurely.
        A prediction may be the ignore id: a palette codec decodes COCO-Stuff's unlabelled colour
        to 255, a miss on a labelled pixel."""
        bad = (ids < 0) | (ids >= self.num_classes)
        if self.ignore_index is not None:
            bad &= ids != self.ignore_index
        if bad.any():
            raise ValueError(f"{which} id {int(ids[bad][0])} is neither a class (0-{self.num_classes - 1}) nor the "
                             f"ignore id ({self.ignore_index}); check num_classes and ignore_index")


def miou(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None) -> float:
    metric = SegmentationIoU(num_classes, ignore_index)
    metric.update(pred, target)
    return metric.compute()
