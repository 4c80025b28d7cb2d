"""From a file to a described model: load, ``--rename``, read ONNX/Keras layouts, threshold, describe.

One pipeline for ``analyze``, ``check``, ``unfold`` and ``prune``, so every
command sees the same names, the same skipped tensors and the same notes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.io import Checkpoint, load_state
from graphtools.layouts import canonical_tensors, orphan_onnx_biases, recurrent_hint
from graphtools.model import KERAS_NAME, TORCH_NAME, ModelDescription, describe, natural_key
from graphtools.rename import parse_renames, rename_tensors
from graphtools.threshold import check_threshold, threshold_tensors

#: Dense-pattern note: every analysed matrix has density 1.
DENSE_NOTE = ("every analysed matrix is dense (density 1): its binary graph is complete bipartite, so sigma2 = 0 "
              "and the binary measures (Ramanujan, gaps) are trivial; give --threshold EPS or --threshold-rel R "
              "to drop small weights, or prune the model")


@dataclass(frozen=True)
class Skipped:
    """A tensor that no measure uses, and why."""

    name: str
    shape: tuple[int, ...]
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "reason": self.reason}


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint as every command sees it: prepared tensors, their description, what was
    left out and the notes for the user."""

    checkpoint: Checkpoint
    tensors: dict[str, np.ndarray]
    model: ModelDescription
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_options(*, rename=(), threshold=None, threshold_rel=None) -> None:
    """Validate the loading options before any file is read (fail fast)."""
    parse_renames(rename)
    check_threshold(threshold=threshold, threshold_rel=threshold_rel)


def prepare_tensors(tensors: dict[str, np.ndarray], *, rename=(), threshold=None,
                    threshold_rel=None) -> dict[str, np.ndarray]:
    """``--rename`` rules, then ONNX / Keras 3 layouts (:func:`graphtools.layouts.canonical_tensors`),
    then the thresholds (:func:`graphtools.threshold.threshold_tensors`).

    Example
    -------
    >>> import numpy as np
    >>> state = {"enc_w_ih": np.ones((6, 4)), "enc_w_hh": np.ones((6, 2))}
    >>> list(prepare_tensors(state, rename=["^enc_w_(..)$=enc.weight_\\\\1_l0"]))
    ['enc.weight_ih_l0', 'enc.weight_hh_l0']
    """
    renamed = rename_tensors(tensors, rename)
    return threshold_tensors(canonical_tensors(renamed), threshold=threshold, threshold_rel=threshold_rel)


def _reason(name: str, arr: np.ndarray, orphans=frozenset()) -> str:
    if arr.ndim == 0:
        return "scalar"
    if arr.ndim == 1:
        return "1-D vector (a bias or scale): never a layer"
    if arr.ndim == 2 and name in orphans:
        return "shaped like the bias B of ONNX recurrent weights whose names were not recognised (see the note)"
    if arr.ndim == 2:
        return "bias of a recurrent layer: enters no measure"
    return f"{arr.ndim}-D tensor: not a weight matrix (only 2-D tensors and recurrent layouts are analysed)"


def skipped_tensors(tensors: dict[str, np.ndarray], model: ModelDescription) -> tuple[Skipped, ...]:
    """Every tensor of ``tensors`` that no weight of ``model`` was read from, with the reason, by name."""
    used = {source for w in model.weights for source in w.sources}
    names = sorted((n for n in tensors if n not in used), key=natural_key)  # file order varies by writer
    orphans = orphan_onnx_biases(tensors)
    return tuple(Skipped(n, tuple(int(s) for s in tensors[n].shape), _reason(n, tensors[n], orphans)) for n in names)


def _names_recognised(tensors: dict[str, np.ndarray]) -> bool:
    return any(TORCH_NAME.match(n) or (KERAS_NAME.match(n) and KERAS_NAME.match(n)["kind"] != "bias")
               for n in tensors)


def read_checkpoint(path: str | os.PathLike, *, rename=(), threshold=None, threshold_rel=None) -> LoadedModel:
    """Load ``path`` and describe it after :func:`prepare_tensors`.

    Notes: the reader's own (e.g. an ONNX GRU's ``linear_before_reset``), a hint when no
    recurrent name was recognised but two matrices look recurrent
    (:func:`graphtools.layouts.recurrent_hint`).  Raises GraphtoolsError for bad options or input.

    Example
    -------
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> np.savez(path, **{"gru.weight_ih_l0": np.ones((6, 3)), "gru.weight_hh_l0": np.ones((6, 2)),
    ...                   "gru.bias_ih_l0": np.ones(6)})
    >>> loaded = read_checkpoint(path)
    >>> loaded.model.architecture()["cell"], [s.name for s in loaded.skipped]
    ('gru', ['gru.bias_ih_l0'])
    """
    check_options(rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    checkpoint = load_state(path)
    tensors = prepare_tensors(checkpoint.tensors, rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    orphans = orphan_onnx_biases(tensors)
    try:
        model = describe({n: a for n, a in tensors.items() if n not in orphans})
    except GraphtoolsError as exc:
        hint = None if _names_recognised(tensors) else recurrent_hint(tensors)
        message = str(exc) if str(exc).startswith(os.fspath(path)) else f"{os.fspath(path)}: {exc}"
        raise GraphtoolsError(message if hint is None else f"{message}; {hint}") from None
    notes = [line for line in checkpoint.metadata.get("graphtools.notes", "").splitlines() if line]
    if not model.modules and not _names_recognised(tensors):
        hint = recurrent_hint(tensors)
        if hint:
            notes.append(hint)
    return LoadedModel(checkpoint, tensors, model, skipped_tensors(tensors, model), tuple(notes))


def dense_note(densities) -> str | None:
    """:data:`DENSE_NOTE` when every density is 1 (and there is at least one), else None.

    Example
    -------
    >>> dense_note([1.0, 1.0]) == DENSE_NOTE, dense_note([1.0, 0.5])
    (True, None)
    """
    densities = list(densities)
    return DENSE_NOTE if densities and all(d >= 1.0 for d in densities) else None


def select_modules(model: ModelDescription, prefix: str | None = None) -> list[int]:
    """Indices of the recurrent modules to unfold: all of them, or the one whose prefix is
    ``prefix`` (with or without its trailing ``.`` or ``/``).  Raises GraphtoolsError when the
    model has no recurrent module or no module has that prefix.

    Example
    -------
    >>> import numpy as np
    >>> model = describe({"a.weight_ih_l0": np.ones((4, 3)), "a.weight_hh_l0": np.ones((4, 4)),
    ...                   "b.weight_ih_l0": np.ones((6, 4)), "b.weight_hh_l0": np.ones((6, 2))})
    >>> select_modules(model), select_modules(model, "b")
    ([0, 1], [1])
    """
    if not model.modules:
        raise GraphtoolsError("the checkpoint has no recurrent layer to unfold "
                              "(see the hint of `graphtools analyze` and --rename)")
    if prefix is None:
        return list(range(len(model.modules)))
    for i, m in enumerate(model.modules):
        if prefix in (m.prefix, m.prefix.rstrip("./")):
            return [i]
    known = ", ".join(repr(m.prefix.rstrip("./")) for m in model.modules)
    raise GraphtoolsError(f"--module {prefix!r} is no recurrent module of the checkpoint (modules: {known})")
