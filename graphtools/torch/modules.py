"""Live ``torch.nn.Module`` objects as graphtools models, read one matrix at a time.

:func:`module_tensors` gives the ``name -> array`` mapping that
:func:`graphtools.model.describe` understands (the module's state-dict names:
``rnn.weight_ih_l0``, ``cell.weight_hh``, ``fc.weight``, ...), but each value
is a :class:`DeviceMatrix` that stays where the tensor lives (CPU or GPU) until
``numpy.asarray`` copies it to the host.  The analysis reads the weights one
after the other, so at most one matrix is on the host at a time.  A weight under
``torch.nn.utils.prune`` reparametrisation (``X_orig`` and buffer ``X_mask``)
appears once, as ``X = X_orig * X_mask`` computed on the tensor's device.
"""

from __future__ import annotations

import torch

from graphtools.analysis import ModelReport, analyze_model
from graphtools.checks import CheckReport, Rules, check_model
from graphtools.loading import skipped_tensors
from graphtools.errors import GraphtoolsError
from graphtools.model import MASK_SUFFIX, ModelDescription, describe

_ORIG = "_orig"


class DeviceMatrix:
    """A tensor left on its device; ``numpy.asarray`` copies it (times its prune mask) to the host.

    ``shape`` and ``ndim`` are known without a copy, which is all that
    :func:`graphtools.model.describe` needs to recognise the model.
    """

    def __init__(self, name: str, tensor, mask=None):
        self.name, self.tensor, self.mask = name, tensor, mask

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def ndim(self) -> int:
        return self.tensor.dim()

    def __array__(self, dtype=None, copy=None):
        with torch.no_grad():
            t = self.tensor.detach()
            if self.mask is not None:
                t = t * self.mask.to(t.dtype)
            if t.is_floating_point():
                if not bool(torch.isfinite(t).all()):
                    raise GraphtoolsError(f"{self.name} holds NaN or infinite values")
                if t.dtype == torch.bfloat16:  # numpy has no bfloat16
                    t = t.float()
            arr = t.cpu().numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"DeviceMatrix({self.name!r}, shape={list(self.shape)}, device={self.tensor.device})"


def _check_module(module) -> None:
    if not isinstance(module, torch.nn.Module):
        raise GraphtoolsError(f"expected a torch.nn.Module, got {type(module).__name__}")


def module_tensors(module) -> dict[str, DeviceMatrix]:
    """``state-dict name -> DeviceMatrix`` of every parameter of ``module`` (prune pairs merged)."""
    _check_module(module)
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    out: dict[str, DeviceMatrix] = {}
    for name, tensor in params.items():
        base = name[: -len(_ORIG)] if name.endswith(_ORIG) else None
        if base is not None and base + MASK_SUFFIX in buffers:
            out[base] = DeviceMatrix(base, tensor, buffers[base + MASK_SUFFIX])
        else:
            out[name] = DeviceMatrix(name, tensor)
    return out


def describe_module(module, *, tensors: dict | None = None) -> ModelDescription:
    """The :class:`graphtools.model.ModelDescription` of a module holding at least one recurrent
    layer (``nn.RNN``/``LSTM``/``GRU`` or a ``*Cell``); GraphtoolsError otherwise.  ``tensors``:
    :func:`module_tensors` of the module, when the caller already has them."""
    if tensors is None:
        tensors = module_tensors(module)
    if not any(t.ndim == 2 for t in tensors.values()):
        raise GraphtoolsError(f"{type(module).__name__} has no 2-D weight to analyse")
    model = describe(tensors)
    if not model.modules:
        raise GraphtoolsError(
            f"{type(module).__name__} has no recurrent layer (nn.RNN, nn.LSTM, nn.GRU or a *Cell); "
            f"its 2-D weights are {', '.join(w.name for w in model.weights)}")
    return model


def _label(module) -> str:
    return f"{type(module).__name__} (torch module)"


def analyze_module(module, *, gates: bool = False, unfold: int | None = None, unfold_gates: str = "union",
                   method: str = "auto", bounds: bool = False) -> ModelReport:
    """The expander report of a live PyTorch module, as ``graphtools analyze`` gives it for a file.

    Parameters
    ----------
    module : torch.nn.Module
        Holds ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (stacked, bidirectional, ``proj_size``) or
        ``*Cell`` layers, and possibly ``nn.Linear`` heads; CPU or GPU tensors; weights under
        ``torch.nn.utils.prune`` are read as ``weight_orig * weight_mask``.
    gates : bool
        Also one row per gate block (LSTM i, f, g, o; GRU r, z, n).
    unfold : int, optional
        Unfold the first recurrent module over this many steps (``analyze --unfold T``).
    unfold_gates, method, bounds
        As :func:`graphtools.analysis.analyze_checkpoint`.

    Returns
    -------
    graphtools.analysis.ModelReport
        ``format`` is ``"torch"``; the rows are named by the module's state-dict keys.

    Example
    -------
    >>> import torch
    >>> from graphtools.torch import analyze_module
    >>> report = analyze_module(torch.nn.LSTM(4, 8))
    >>> [layer.name for layer in report.layers]
    ['weight_ih_l0', 'weight_hh_l0']
    """
    tensors = module_tensors(module)
    model = describe_module(module, tensors=tensors)
    return analyze_model(model, _label(module), "torch", gates=gates, method=method, bounds=bounds,
                         unfold_steps=unfold, unfold_gates=unfold_gates,
                         skipped=[s.to_dict() for s in skipped_tensors(tensors, model)])


def check_module(module, rules: Rules) -> CheckReport:
    """:func:`graphtools.checks.run_checks` for a live module: the rules on its weights.

    Example
    -------
    >>> import torch
    >>> from graphtools.checks import Rules
    >>> from graphtools.torch import check_module
    >>> check_module(torch.nn.GRU(4, 4), Rules(require_ramanujan=("weight_hh_l0",))).passed
    True
    """
    return check_model(describe_module(module), rules, _label(module))


__all__ = ["DeviceMatrix", "module_tensors", "describe_module", "analyze_module", "check_module"]
