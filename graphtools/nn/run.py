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
from graphtools.model import CELL_OF_BLOCKS, GATE_BLOCKS, MASK_SUFFIX
from graphtools.nn.classifier import SequenceClassifier, load_model
from graphtools.nn.training import Evaluation, TrainResult, evaluate, fit
from graphtools.validate import EPOCHS_MAX, check_count, check_finite, check_seed


@dataclass
class TrainConfig:
    """Everything one training run depends on (stored in the checkpoint's metadata)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
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
    workers: int | None = None  # workers per batch; None: 2 on a multi-core machine from hidden 128, batch 64
    extra: dict = field(default_factory=dict)

    @property
    def hidden(self) -> int | None:
        """The older name of :attr:`hidden_size`."""
        return self.hidden_size

    @property
    def layers(self) -> int | None:
        """The older name of :attr:`num_layers`."""
        return self.num_layers


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


ARCHITECTURE_DEFAULTS = {"cell": "lstm", "hidden_size": 128, "num_layers": 1}
#: The ``graphtools train`` option of each architecture field (named in errors).
_OPTIONS = {"cell": "--cell", "hidden_size": "--hidden", "num_layers": "--layers"}


def masks_architecture(masks: dict[str, np.ndarray]) -> dict | None:
    """``{"cell", "hidden_size", "num_layers"}`` read off recurrent ``weight_hh_l<k>`` masks: shape
    ``(G * hidden, hidden)`` with G = 1 (RNN), 3 (GRU) or 4 (LSTM), layers = largest k + 1; None
    when the masks hold no such mask.

    Examples
    --------
    >>> import numpy as np
    >>> masks_architecture({"rnn.weight_hh_l0": np.ones((256, 64)), "rnn.weight_hh_l1": np.ones((256, 64))})
    {'cell': 'lstm', 'hidden_size': 64, 'num_layers': 2}
    """
    found = {}
    for name, mask in masks.items():
        match = re.search(r"weight_hh_l(\d+)$", name)
        if match and mask.ndim == 2 and mask.shape[1] and mask.shape[0] % mask.shape[1] == 0:
            found[int(match.group(1))] = mask.shape
    if not found:
        return None
    rows, hidden = found[0] if 0 in found else next(iter(found.values()))
    cell = CELL_OF_BLOCKS.get(rows // hidden)
    if cell is None:
        return None
    return {"cell": cell, "hidden_size": hidden, "num_layers": max(found) + 1}


def _architecture(config: TrainConfig, source: str, found: dict | None) -> None:
    """Fill ``config``'s cell, hidden_size and num_layers (None: not given) from ``found`` (what the
    file ``source`` holds), refusing a given value that contradicts it; defaults where nothing is known."""
    if found is not None:
        clashes = [f"{option} {getattr(config, k)}" for k, option in _OPTIONS.items()
                   if getattr(config, k) is not None and getattr(config, k) != found[k]]
        if clashes:
            raise GraphtoolsError(f"{source} holds a {found['cell']} of hidden size {found['hidden_size']} x "
                                  f"{found['num_layers']} layer(s); {', '.join(clashes)} contradicts it "
                                  "(leave the option out: the architecture comes from the file)")
    for key, default in ARCHITECTURE_DEFAULTS.items():
        if getattr(config, key) is None:
            setattr(config, key, (found or {}).get(key, default))


def build_model(cell: str, hidden_size: int, num_layers: int, *, features: int, classes: int, seed: int,
                batch_size: int, steps: int) -> SequenceClassifier:
    """A fresh :class:`SequenceClassifier` (seeded), after checking that training it at
    ``batch_size`` on sequences of ``steps`` fits the memory budget (:mod:`graphtools.budget`).

    Examples
    --------
    >>> model = build_model("gru", 8, 1, features=3, classes=2, seed=0, batch_size=4, steps=5)
    >>> model.cell, model.hidden_size, model.num_layers
    ('gru', 8, 1)
    """
    gates = GATE_BLOCKS.get(cell, 1)
    budget.check(budget.training_bytes(gates=gates, features=features, hidden=hidden_size, layers=num_layers,
                                       classes=classes, batch=batch_size, steps=steps),
                 f"training a {cell} of hidden size {hidden_size} x {num_layers} layer(s) at batch size {batch_size}")
    return SequenceClassifier(cell, features, hidden_size, num_layers, classes, seed=seed)


def build_and_fit(train, test, *, output: str | os.PathLike, seed: int, cell: str | None = None,
                  hidden_size: int | None = None, num_layers: int | None = None,
                  init: SequenceClassifier | None = None, init_name: str = "the initial model", masks: dict[str, np.ndarray] | None = None,
                  batch_size: int = 128, meta: dict | None = None, trainer=fit,
                  **options) -> tuple[SequenceClassifier, TrainResult]:
    """Build a model and train it: what ``graphtools train`` and every sweep run do.

    The model is ``init`` (trained further, e.g. a pruned one; ``init_name`` names it in errors) or a fresh ``cell`` of
    ``hidden_size`` x ``num_layers`` (:func:`build_model`, seeded with ``seed``); ``masks``
    (weight name -> bool array, another module prefix allowed) fix pruned weights at zero.  Then
    ``trainer`` (:func:`graphtools.nn.fit` or its PyTorch twin) trains it on the dataset ``train``
    (``.x``, ``.y``), evaluating on ``test`` and writing ``output`` after every epoch with ``meta``;
    ``options`` (epochs, lr, optimizer, clip, workers, progress, on_epoch, callbacks, ...) go to
    ``trainer`` as they are.  Returns the trained model and the :class:`TrainResult`.
    """
    if init is not None:
        model = init
        if (model.input_size, model.num_classes) != (train.features, train.num_classes):
            raise GraphtoolsError(f"{init_name}: the model takes "
                                  f"{model.input_size} features and {model.num_classes} classes; the data has "
                                  f"{train.features} and {train.num_classes}")
    else:
        model = build_model(cell, hidden_size, num_layers, features=train.features, classes=train.num_classes,
                            seed=seed, batch_size=min(batch_size, len(train.x)), steps=train.x.shape[1])
    if masks:
        named = {_parameter_name(name, mask, model): mask for name, mask in masks.items()}
        model.set_masks({**model.masks, **named})
    result = trainer(model, train.x, train.y, batch_size=batch_size, seed=seed, test=(test.x, test.y),
                     checkpoint=output, meta=meta, **options)
    return model, result


def train_from_config(config: TrainConfig, output: str | os.PathLike, progress=None, on_epoch=None) -> TrainResult:
    """Load the data, build (or load with ``init``) the model, apply ``mask``, train, and leave the
    checkpoint of the last complete epoch at ``output`` (:func:`build_and_fit`).

    ``cell``, ``hidden_size``, ``num_layers`` left None come from ``init`` (its model), else from
    ``mask`` (the shapes of its ``weight_hh`` masks), else the defaults (lstm, 128, 1); a value
    given that contradicts the file is refused."""
    check_output(output, formats=CHECKPOINT_FORMATS)  # before any work: a typo costs no epoch
    init_model = load_model(config.init) if config.init else None
    mask_file = load_masks(config.mask) if config.mask else None
    if init_model is not None:
        _architecture(config, config.init, {"cell": init_model.cell, "hidden_size": init_model.hidden_size,
                                            "num_layers": init_model.num_layers})
    else:
        _architecture(config, config.mask, masks_architecture(mask_file) if mask_file else None)
    check_seed(config.seed)
    check_count(config.epochs, "epochs", maximum=EPOCHS_MAX)
    check_finite(config.lr, "learning rate", minimum=0, min_open=True)
    if config.clip is not None:
        check_finite(config.clip, "clip", minimum=0, min_open=True)
    train = load_dataset(config.dataset, config.data, split="train", limit=config.limit)
    test = load_dataset(config.dataset, config.data, split="test", limit=config.limit)
    meta = {"dataset": config.dataset, "lr": config.lr, "batch_size": config.batch_size,
            "optimizer": config.optimizer, "limit": config.limit, "data_note": train.note, **config.extra}
    _, result = build_and_fit(train, test, output=output, seed=config.seed, cell=config.cell,
                              hidden_size=config.hidden_size, num_layers=config.num_layers, init=init_model,
                              init_name=config.init or "",
                              masks=mask_file, batch_size=config.batch_size, meta=meta, epochs=config.epochs,
                              lr=config.lr, optimizer=config.optimizer, clip=config.clip, workers=config.workers,
                              progress=progress, on_epoch=on_epoch)
    return result


def evaluate_checkpoint(path: str | os.PathLike, dataset: str, data: str, split: str = "test",
                        limit: int | None = None, noise_snr: float | None = None) -> Evaluation:
    """Accuracy and loss of the checkpoint at ``path`` on a split of a dataset."""
    model = load_model(path)
    ds = load_dataset(dataset, data, split=split, limit=limit, noise_snr=noise_snr)
    if (ds.features, ds.num_classes) != (model.input_size, model.num_classes):
        raise GraphtoolsError(f"{path}: the model takes {model.input_size} features and {model.num_classes} "
                              f"classes; {dataset} has {ds.features} and {ds.num_classes}")
    return evaluate(model, ds.x, ds.y)
