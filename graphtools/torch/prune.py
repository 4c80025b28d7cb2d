"""graphtools' expander masks as ``torch.nn.utils.prune`` methods.

Used exactly like ``torch.nn.utils.prune.l1_unstructured(module, name, amount)``::

    from graphtools.torch import prune as gprune
    gprune.random_biregular(model.rnn, "weight_hh_l0", amount=0.8, seed=0)
    gprune.ramanujan_guard(model.rnn, "weight_ih_l0", amount=0.5, rounds=10)
    torch.nn.utils.prune.remove(model.rnn, "weight_hh_l0")   # make it permanent

Each call adds the usual reparametrisation (``weight_orig``, buffer ``weight_mask``, a
forward pre-hook) and returns the method object.  The masks are those of ``graphtools prune``
(:func:`graphtools.prune.prune_state`) for the same weights and seed; a seeded method draws
from :func:`graphtools.prune.unit_rng` ``(seed, key, 0)`` with ``key`` the weight's name in
the saved state dict (default ``name``; pass ``key="rnn.weight_hh_l0"`` for a module inside a
model to get the file's mask).

Composition.  Applied to an already pruned weight, every method returns a subset of the
old mask (``torch.nn.utils.prune`` keeps the methods in a ``PruningContainer``):

* ``ramanujan_guard`` prunes ``amount`` of the *remaining* weights (as repeated
  ``l1_unstructured`` does), starting from the old mask and stopping at the last Ramanujan
  round (:func:`graphtools.prune.guard_mask` with ``within``);
* ``random_biregular`` and ``array_code`` build their graph on the whole matrix at sparsity
  ``amount`` and keep its intersection with the old mask (biregular/array-code structure holds
  only on an unpruned weight).

These methods need the whole 2-D matrix (``PRUNING_TYPE = "global"`` in torch's terms), so
``torch.nn.utils.prune.global_unstructured``, which flattens all parameters into one vector,
refuses them with a TypeError; use ``graphtools prune --scope global`` on a saved state dict.
"""

from __future__ import annotations


import numpy as np
import torch
from torch.nn.utils import prune as torch_prune

from graphtools.errors import GraphtoolsError
from graphtools.prune import GuardStop, compute_mask, guard_mask, unit_rng
from graphtools.rewiring import REWIRE_TARGETS, RewireResult
from graphtools.rewiring import rewire as rewire_mask
from graphtools.spectral import RAMANUJAN_DEFINITIONS
from graphtools.validate import check_scalar, check_seed


def _amount(amount) -> float:
    return check_scalar(amount, "amount", float, min_val=0.0, max_val=1.0, include_boundaries="left",
                        expected="a fraction in [0, 1) (of the weights pruned)")


class _GraphPruning(torch_prune.BasePruningMethod):
    """A mask computed on the whole 2-D weight, combined with the old mask (a subset of it)."""

    PRUNING_TYPE = "global"

    def compute_mask(self, t, default_mask):
        if t.dim() != 2:
            raise GraphtoolsError(f"{type(self).__name__} prunes 2-D weight matrices, got shape {list(t.shape)}")
        old = default_mask.detach().cpu().numpy() != 0
        weight = t.detach()
        if weight.dtype == torch.bfloat16:
            weight = weight.float()
        new = self._mask(weight.cpu().numpy(), old) & old
        return torch.as_tensor(new, device=default_mask.device).to(default_mask.dtype)

    def _mask(self, weight: np.ndarray, old: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomBiregular(_GraphPruning):
    """A random mask whose row and column degrees each differ by at most one (``graphtools prune
    --method biregular``): (c, d)-biregular when the sizes divide the kept count."""

    def __init__(self, amount, seed=0, key=None):
        self.amount, self.seed, self.key = _amount(amount), check_seed(seed), key

    def _mask(self, weight, old):
        rng = unit_rng(self.seed, self.key or self._tensor_name, 0)
        return compute_mask(weight, "biregular", self.amount, rng)

    @classmethod
    def apply(cls, module, name, amount, seed=0, key=None):  # type: ignore[override]
        return super().apply(module, name, amount=amount, seed=seed, key=key)


class ArrayCode(_GraphPruning):
    """The array-code mask of Burnwal, Sinha and Vidyasagar (``graphtools prune --method
    array-code``): density ``1/q`` for a prime ``q`` within 2% of ``1 - amount``."""

    def __init__(self, amount):
        self.amount = _amount(amount)

    def _mask(self, weight, old):
        return compute_mask(weight, "array-code", self.amount)

    @classmethod
    def apply(cls, module, name, amount):  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class RamanujanGuard(_GraphPruning):
    """Magnitude pruning in ``rounds`` rounds that stops at the last round whose mask is still
    Ramanujan (``graphtools prune --method ramanujan-guard``).  ``stop`` tells where it stopped."""

    def __init__(self, amount, rounds=10, definition="average"):
        self.amount = _amount(amount)
        self.rounds, self.definition = check_scalar(rounds, "rounds", int, min_val=1), definition
        self.stop: GuardStop | None = None
        if definition not in RAMANUJAN_DEFINITIONS:
            raise GraphtoolsError(f"definition must be one of {', '.join(RAMANUJAN_DEFINITIONS)}, "
                                  f"not {definition!r}")

    def _mask(self, weight, old):
        within = None if old.all() else old
        mask, self.stop, _ = guard_mask(weight, self.amount, self.rounds, within=within, definition=self.definition)
        return mask

    @classmethod
    def apply(cls, module, name, amount, rounds=10, definition="average"):  # type: ignore[override]
        return super().apply(module, name, amount=amount, rounds=rounds, definition=definition)


class Rewire(_GraphPruning):
    """Degree-preserving rewiring of the current mask towards ``target`` ("random", "expander" or
    "poor") with :func:`graphtools.constructions.rewire`, seeded per weight like ``graphtools prune``
    (:func:`graphtools.prune.unit_rng`).  Not a subset of the old mask: rewiring moves edges (every
    node keeps its degree)."""

    def __init__(self, target="random", seed=0, key=None, steps=None):
        if target not in REWIRE_TARGETS:
            raise GraphtoolsError(f"target must be one of {', '.join(REWIRE_TARGETS)}, not {target!r}")
        self.target, self.seed, self.key, self.steps = target, check_seed(seed), key, steps
        self.result: RewireResult | None = None

    def compute_mask(self, t, default_mask):
        old = default_mask.detach().cpu().numpy() != 0
        rng = unit_rng(self.seed, self.key or self._tensor_name, 0)
        self.result = rewire_mask(old, self.target, rng, steps=self.steps)
        return torch.as_tensor(self.result.mask, device=default_mask.device).to(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, target="random", seed=0, key=None, steps=None):  # type: ignore[override]
        return super().apply(module, name, target=target, seed=seed, key=key, steps=steps)


def _apply(cls, module, name: str, **kwargs):
    """``cls.apply(module, name, **kwargs)``; when it fails, the module's earlier pruning of ``name``
    is left as it was (torch drops the old hook before the new method has computed its mask)."""
    hooks = dict(module._forward_pre_hooks)
    sizes = {k: len(h._pruning_methods) for k, h in hooks.items() if isinstance(h, torch_prune.PruningContainer)}
    try:
        return cls.apply(module, name, **kwargs)
    except Exception:
        for key, hook in hooks.items():
            if key in sizes:
                hook._pruning_methods = hook._pruning_methods[:sizes[key]]
            module._forward_pre_hooks[key] = hook
        raise


def random_biregular(module, name: str, amount: float, seed: int = 0, key: str | None = None):
    """Prune ``module.<name>`` with a random near-biregular mask keeping ``n - round(amount n)`` weights.

    Example
    -------
    >>> import torch
    >>> from graphtools.torch.prune import random_biregular
    >>> rnn = torch.nn.RNN(8, 8)
    >>> _ = random_biregular(rnn, "weight_hh_l0", amount=0.75, seed=1)
    >>> rnn.weight_hh_l0_mask.sum(dim=1).tolist()  # every hidden unit keeps 2 of 8 inputs
    [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    """
    return _apply(RandomBiregular, module, name, amount=amount, seed=seed, key=key)


def array_code(module, name: str, amount: float):
    """Prune ``module.<name>`` with an array-code mask (density ``1/q``, ``q`` prime, always
    Ramanujan when it fits exactly).

    Example
    -------
    >>> import torch
    >>> from graphtools.torch.prune import array_code
    >>> rnn = torch.nn.RNN(3, 9)
    >>> _ = array_code(rnn, "weight_hh_l0", amount=2 / 3)
    >>> int(rnn.weight_hh_l0_mask.sum())
    27
    """
    return _apply(ArrayCode, module, name, amount=amount)


def ramanujan_guard(module, name: str, amount: float, rounds: int = 10, definition: str = "average"):
    """Prune ``amount`` of the remaining weights of ``module.<name>`` by magnitude in ``rounds``
    rounds, stopping at the last Ramanujan one; the returned method's ``stop`` says where.

    Example
    -------
    >>> import torch
    >>> from graphtools.torch.prune import ramanujan_guard
    >>> _ = torch.manual_seed(0)
    >>> rnn = torch.nn.RNN(16, 16)
    >>> method = ramanujan_guard(rnn, "weight_hh_l0", amount=0.5, rounds=5)
    >>> method.stop.reason, int(rnn.weight_hh_l0_mask.sum())
    ('reached target', 128)
    """
    return _apply(RamanujanGuard, module, name, amount=amount, rounds=rounds, definition=definition)


def rewire(module, name: str, target: str = "random", seed: int = 0, key: str | None = None,
           steps: int | None = None):
    """Rewire the mask of ``module.<name>`` keeping every row and column degree
    (:class:`Rewire`); the pruned weights stay zero."""
    return _apply(Rewire, module, name, target=target, seed=seed, key=key, steps=steps)


__all__ = ["RandomBiregular", "ArrayCode", "RamanujanGuard", "Rewire", "random_biregular", "array_code",
           "ramanujan_guard", "rewire"]
