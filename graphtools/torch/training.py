"""A PyTorch backend for graphtools' trainer: the same model, data order, optimiser, clipping and
masks as :func:`graphtools.nn.fit`, on a CPU or a CUDA device.

:class:`TorchTrainer` holds a ``torch.nn`` copy of a numpy
:class:`graphtools.nn.SequenceClassifier` (``nn.RNN/LSTM/GRU(batch_first=True)`` named ``rnn``
plus ``nn.Linear`` named ``fc``: the very state-dict names of the numpy model, so its weights are
copied one to one) and takes one optimiser step per batch exactly as the numpy loop does:

1. mean cross-entropy of the logits of the last step, gradients by autograd;
2. gradients of pruned weights set to zero (mask);
3. ``torch.nn.utils.clip_grad_norm_`` to ``clip`` (the numpy clipping's formula);
4. ``torch.optim.Adam`` (betas 0.9, 0.999, eps 1e-8) or ``SGD`` (momentum 0.9), the numpy
   optimisers' formulas; then pruned weights and their optimiser state are multiplied by the
   mask, so they stay exactly zero.

:func:`fit_torch` runs the epochs with the numpy trainer's minibatch order
(``numpy.random.default_rng(seed).permutation`` per epoch) and writes the same checkpoint
(:meth:`SequenceClassifier.save`) after every epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from graphtools.errors import GraphtoolsError
from graphtools.nn.classifier import SequenceClassifier
from graphtools.nn.optim import OPTIMIZERS
from graphtools.nn.training import (
    Evaluation, TrainResult, check_fit_arguments, evaluate, run_epochs, standard_callbacks,
)

_MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_device(name: str) -> torch.device:
    """``torch.device(name)`` for ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; GraphtoolsError when the
    name is not one of those or no such CUDA device is visible to PyTorch."""
    if not isinstance(name, str) or not (name in ("cpu", "cuda") or (name.startswith("cuda:")
                                                                    and name[5:].isdigit())):
        raise GraphtoolsError(f"device must be cpu, cuda or cuda:N, not {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GraphtoolsError(f"--device {name}: PyTorch sees no CUDA GPU here (torch.cuda.is_available() "
                                  "is False); use --device cpu")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise GraphtoolsError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device(name)


class _Classifier(torch.nn.Module):
    def __init__(self, model: SequenceClassifier):
        super().__init__()
        self.rnn = _MODULES[model.cell](model.input_size, model.hidden_size, model.num_layers, batch_first=True)
        self.fc = torch.nn.Linear(model.hidden_size, model.num_classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


class TorchTrainer:
    """A torch copy of ``model`` on ``device`` and its optimiser; :meth:`step` trains one batch,
    :meth:`forward` gives logits, :meth:`sync` copies the weights back into ``model.params``."""

    def __init__(self, model: SequenceClassifier, *, lr: float = 1e-3, optimizer: str = "adam",
                 clip: float | None = 1.0, device: str = "cpu"):
        if optimizer not in OPTIMIZERS:
            raise GraphtoolsError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
        dtype = np.dtype(model.params["fc.weight"].dtype)
        if dtype not in _DTYPES:
            raise GraphtoolsError(f"the torch trainer runs float32 or float64 models, not {dtype}")
        self.model, self.clip, self.device = model, clip, torch_device(device)
        self.dtype = _DTYPES[dtype]
        self.module = _Classifier(model).to(device=self.device, dtype=self.dtype)
        own = dict(self.module.named_parameters())
        if set(own) != set(model.params):  # pragma: no cover - the numpy model's names are torch's
            raise RuntimeError(f"parameter names differ: {sorted(set(own) ^ set(model.params))}")
        with torch.no_grad():
            for name, p in own.items():
                p.copy_(torch.from_numpy(np.ascontiguousarray(model.params[name])))
        self.masks = {own[name]: torch.as_tensor(mask, device=self.device).to(self.dtype)
                      for name, mask in model.masks.items()}
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.module.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
        else:
            self.optimizer = torch.optim.SGD(self.module.parameters(), lr=lr, momentum=0.9)
        self._apply_masks()

    def _apply_masks(self) -> None:
        with torch.no_grad():
            for p, mask in self.masks.items():
                p.mul_(mask)
                for value in self.optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value.mul_(mask)

    def _tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x)).to(device=self.device, dtype=self.dtype)

    def step(self, x, labels) -> tuple[float, np.ndarray]:
        """One optimiser step on the batch ``(x, labels)``; returns its mean loss and logits."""
        self.module.train()
        logits = self.module(self._tensor(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(np.asarray(labels), device=self.device))
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        with torch.no_grad():
            for p, mask in self.masks.items():
                p.grad.mul_(mask)
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.clip)
        self.optimizer.step()
        self._apply_masks()
        return float(loss.detach()), logits.detach().cpu().numpy()

    def forward(self, x) -> np.ndarray:
        """Logits of ``x`` (``batch, T, features``), without gradients (``evaluate`` calls this)."""
        self.module.eval()
        with torch.no_grad():
            return self.module(self._tensor(x)).cpu().numpy()

    def sync(self) -> None:
        """Copy the trained weights back into the numpy model (masked weights exactly zero)."""
        for name, p in self.module.named_parameters():
            self.model.params[name][...] = p.detach().cpu().numpy()
        self.model.apply_masks()


def evaluate_torch(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
                   device: str = "cpu") -> Evaluation:
    """:func:`graphtools.nn.evaluate` with the forward pass run by PyTorch on ``device``."""
    return evaluate(TorchTrainer(model, device=device), x, y, batch_size=batch_size)


def fit_torch(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, epochs: int = 10, batch_size: int = 128,
              lr: float = 1e-3, optimizer: str = "adam", clip: float | None = 1.0, seed: int = 0,
              test=None, checkpoint=None, progress=None, meta: dict | None = None, workers=None,
              device: str = "cpu", callbacks=(), on_epoch=None) -> TrainResult:
    """:func:`graphtools.nn.fit` on PyTorch: same arguments plus ``device``, and the same epoch loop
    (:func:`graphtools.nn.training.run_epochs`, with the same callbacks); ``model`` holds the trained weights afterwards and
    ``checkpoint`` is written after every epoch in the numpy trainer's format.  ``workers``, when
    given (a sweep's worker process gives its share of the cores), is passed to
    ``torch.set_num_threads``; otherwise PyTorch keeps its own thread count.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.nn import SequenceClassifier
    >>> from graphtools.torch.training import fit_torch
    >>> x, y = np.random.default_rng(0).normal(size=(32, 5, 3)), np.arange(32) % 2
    >>> model = SequenceClassifier("gru", 3, 4, num_classes=2, seed=0)
    >>> model.set_masks({"rnn.weight_hh_l0": np.eye(12, 4, dtype=bool)})
    >>> result = fit_torch(model, x, y, epochs=2, batch_size=8)
    >>> len(result.epochs), int(np.count_nonzero(model.params["rnn.weight_hh_l0"]))
    (2, 4)
    """
    epochs, batch_size, lr, clip, seed = check_fit_arguments(model, x, y, epochs, batch_size, lr, optimizer,
                                                             clip=clip, seed=seed)
    if workers is not None:
        torch.set_num_threads(max(1, int(workers)))
    trainer = TorchTrainer(model, lr=lr, optimizer=optimizer, clip=clip, device=device)
    hooks = standard_callbacks(model, seed=seed, test=test, evaluate_test=lambda tx, ty: evaluate(trainer, tx, ty),
                               before_save=trainer.sync, checkpoint=checkpoint, progress=progress, meta=meta,
                               on_epoch=on_epoch)
    return run_epochs(x, y, lambda idx: trainer.step(x[idx], y[idx]), epochs=epochs, batch_size=batch_size,
                      seed=seed, callbacks=[*hooks, *callbacks])


__all__ = ["TorchTrainer", "fit_torch", "evaluate_torch", "torch_device"]
