"""Train and evaluate from files: what ``graphtools train`` and ``graphtools evaluate`` run."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from graphtools import budget
from graphtools.atomic import CHECKPOINT_FORMATS, check_output
from graphtools.data import load_dataset
from graphtools.errors import GraphtoolsError
from graphtools.io import load_state
from graphtools.model import CELL_GATES, MASK_SUFFIX
from graphtools.nn.classifier import SequenceClassifier, load_model
from graphtools.nn.training import Evaluation, TrainResult, evaluate, fit
from graphtools.validate import EPOCHS_MAX, check_count, check_finite, check_seed


@dataclass
class TrainConfig:
    """Everything one training run depends on (stored in the checkpoint's metadata)."""

    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    dataset: str = "seq-mnist"
    data: str = ""
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    clip: float | None = 1.0
    seed: int = 0
    limit: int | None = None
    mask: str | None = None
    init: str | None = None
    workers: int | None = None  # threads per batch; None: 2 on a multi-core machine from hidden 128, batch 64
    extra: dict = field(default_factory=dict)


def load_masks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{weight name: bool mask}`` from every ``<name>_mask`` array of a checkpoint file."""
    tensors = load_state(path).tensors
    masks = {k[: -len(MASK_SUFFIX)]: v != 0 for k, v in tensors.items() if k.endswith(MASK_SUFFIX)}
    if not masks:
        raise GraphtoolsError(f"{path}: holds no masks (arrays named <weight>_mask)")
    return masks


def _parameter_name(name: str, mask: np.ndarray, model: SequenceClassifier) -> str:
    """The model's name for a mask stored under another module prefix (``lstm.weight_hh_l0`` ->
    ``rnn.weight_hh_l0``; a head ``*.weight`` of the head's shape -> ``fc.weight``)."""
    match = re.search(r"(weight_(?:ih|hh)_l\d+)$", name)
    if match:
        return "rnn." + match.group(1)
    if name.endswith("weight") and mask.shape == model.params["fc.weight"].shape:
        return "fc.weight"
    return name


def train_from_config(config: TrainConfig, output: str | os.PathLike, progress=None) -> TrainResult:
    """Load the data, build (or load with ``init``) the model, apply ``mask``, train, and leave the
    checkpoint of the last complete epoch at ``output``."""
    check_output(output, formats=CHECKPOINT_FORMATS)  # before any work: a typo costs no epoch
    check_seed(config.seed)
    check_count(config.epochs, "epochs", maximum=EPOCHS_MAX)
    check_finite(config.lr, "learning rate", minimum=0, min_open=True)
    if config.clip is not None:
        check_finite(config.clip, "clip", minimum=0, min_open=True)
    train = load_dataset(config.dataset, config.data, "train", config.limit)
    test = load_dataset(config.dataset, config.data, "test", config.limit)
    if config.init:
        model = load_model(config.init)
        if (model.input_size, model.num_classes) != (train.features, train.num_classes):
            raise GraphtoolsError(f"{config.init}: the model takes {model.input_size} features and "
                                  f"{model.num_classes} classes; {config.dataset} has {train.features} "
                                  f"and {train.num_classes}")
        config.cell, config.hidden, config.layers = model.cell, model.hidden_size, model.num_layers
    else:
        gates = max(1, len(CELL_GATES.get(config.cell, ())))
        budget.check(budget.training_bytes(gates=gates, features=train.features, hidden=config.hidden,
                                           layers=config.layers, classes=train.num_classes,
                                           batch=min(config.batch_size, len(train.x)), steps=train.x.shape[1]),
                     f"training a {config.cell} of hidden size {config.hidden} x {config.layers} layer(s) "
                     f"at batch size {config.batch_size}")
        model = SequenceClassifier(config.cell, train.features, config.hidden, config.layers,
                                   train.num_classes, seed=config.seed)
    if config.mask:
        masks = {_parameter_name(name, mask, model): mask for name, mask in load_masks(config.mask).items()}
        model.set_masks({**model.masks, **masks})
    meta = {"dataset": config.dataset, "lr": config.lr, "batch_size": config.batch_size,
            "optimizer": config.optimizer, "limit": config.limit, "data_note": train.note, **config.extra}
    return fit(model, train.x, train.y, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
               optimizer=config.optimizer, clip=config.clip, seed=config.seed, test=(test.x, test.y),
               checkpoint=output, progress=progress, meta=meta, workers=config.workers)


def evaluate_checkpoint(path: str | os.PathLike, dataset: str, data: str, split: str = "test",
                        limit: int | None = None, noise_snr: float | None = None) -> Evaluation:
    """Accuracy and loss of the checkpoint at ``path`` on a split of a dataset."""
    model = load_model(path)
    ds = load_dataset(dataset, data, split, limit, noise_snr=noise_snr)
    if (ds.features, ds.num_classes) != (model.input_size, model.num_classes):
        raise GraphtoolsError(f"{path}: the model takes {model.input_size} features and {model.num_classes} "
                              f"classes; {dataset} has {ds.features} and {ds.num_classes}")
    return evaluate(model, ds.x, ds.y)
