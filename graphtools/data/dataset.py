"""The :class:`Dataset` every loader returns, and the checks shared by the loaders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.validate import check_scalar

#: The splits a loader may be asked for (speech-commands alone has a validation split).
Split = Literal["train", "test", "validation"]
SPLITS: tuple[str, ...] = get_args(Split)


@dataclass
class Dataset:
    """A labelled set of sequences.

    ``x`` is float32 of shape ``(N, T, F)``: N examples, T time steps, F features
    per step.  ``y`` is int64 of shape ``(N,)`` with values in
    ``range(len(classes))``; ``classes[y[i]]`` is the name of example i's class.
    ``note`` says where the data came from and anything a reader of results
    should know (e.g. ``"synthetic stand-in"``, added noise).

    Examples
    --------
    >>> ds = Dataset(x=np.zeros((2, 5, 3), np.float32), y=np.array([0, 1]), classes=["a", "b"], name="toy")
    >>> len(ds), ds.steps, ds.features, ds.num_classes
    (2, 5, 3, 2)
    """

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str
    note: str = ""
    split: str = "train"

    def __post_init__(self):
        if self.x.dtype != np.float32 or self.x.ndim != 3:
            raise ValueError(f"Dataset.x must be float32 (N, T, F), got {self.x.dtype} {self.x.shape}")
        if self.y.dtype != np.int64 or self.y.shape != (self.x.shape[0],):
            raise ValueError(f"Dataset.y must be int64 ({self.x.shape[0]},), got {self.y.dtype} {self.y.shape}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        """T, the sequence length."""
        return int(self.x.shape[1])

    @property
    def features(self) -> int:
        """F, the features per step."""
        return int(self.x.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def check_split(split: str, name: str, has_validation: bool) -> None:
    """Refuse an unknown split, or ``validation`` for a dataset that has none."""
    if split not in SPLITS:
        raise GraphtoolsError(f"{name}: unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if split == "validation" and not has_validation:
        raise GraphtoolsError(
            f"{name} has no validation split (only train and test); hold out part of train instead"
        )


def check_limit(limit: int | None) -> int | None:
    """``limit`` as an int >= 0, or None for no limit."""
    if limit is None:
        return None
    return check_scalar(limit, "limit", int, min_val=0, expected="a non-negative integer")


def check_labels(path: str, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels as int64, each in ``range(num_classes)``; the file is named otherwise."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise GraphtoolsError(f"{path}: label {int(bad)} is out of range 0..{num_classes - 1}")
    return labels.astype(np.int64)
