"""Read a checkpoint, prune it, write the result atomically (.npz or .safetensors)."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from graphtools.atomic import atomic_open, check_output
from graphtools.errors import GraphtoolsError
from graphtools.io import META_KEY, load_state
from graphtools.loading import check_options, prepare_tensors, read_checkpoint
from graphtools.prune.common import OUTPUT_FORMATS, Method, Scope
from graphtools.prune.report import PruneReport
from graphtools.prune.state import prune_state
from graphtools.rewiring import RewireTarget


def _write_npz(handle, tensors: dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` (what ``numpy.savez`` writes) without keyword-name limits."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in tensors.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _output_format(path: str) -> str:
    return check_output(path, formats=OUTPUT_FORMATS)


def write_pruned(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None,
                 report: PruneReport | None = None) -> None:
    """Write a pruned state atomically as ``.npz`` or ``.safetensors`` (by extension).

    Parameters
    ----------
    path : str or os.PathLike
        The output file; its extension chooses the format.
    tensors : dict of str to numpy.ndarray
        The state to write (as :func:`prune_state` returns it).
    metadata : dict of str to str, optional
        The input's metadata.  A ``graphtools.meta`` JSON object gets a ``pruning`` record
        (:meth:`PruneReport.record`, replacing an older one); other strings are kept in a
        ``.safetensors`` output (``.npz`` has room for ``graphtools.meta`` only).
    report : PruneReport, optional
        What to record.

    Raises
    ------
    GraphtoolsError
        For an unknown extension, a missing folder, or a ``graphtools.meta`` that is not a JSON object.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> write_pruned(path, {"fc.weight": np.eye(2)}, None)
    >>> np.load(path)["fc.weight"].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    path = os.fspath(path)
    ext = _output_format(path)
    metadata = dict(metadata or {})
    if META_KEY in metadata and report is not None:
        try:
            info = json.loads(metadata[META_KEY])
        except ValueError:
            raise GraphtoolsError(f"{META_KEY} of the input is not valid JSON") from None
        if not isinstance(info, dict):
            raise GraphtoolsError(f"{META_KEY} of the input is not a JSON object")
        info["pruning"] = report.record()
        metadata[META_KEY] = json.dumps(info)
    if ext == ".safetensors":
        from graphtools.safetensors import write_safetensors

        write_safetensors(path, tensors, metadata)
        return
    out = dict(tensors)
    if META_KEY in metadata:
        out[META_KEY] = np.array(metadata[META_KEY])
    with atomic_open(path, "wb") as handle:
        _write_npz(handle, out)


def _start_weights(path) -> dict | None:
    """Weight name -> canonical matrix (masks applied) of the checkpoint at ``path``; None for None."""
    if path is None:
        return None
    return {w.name: np.asarray(w.matrix) for w in read_checkpoint(path).model.weights}


def prune_file(path, output, *, method: Method, sparsity: float, scope: Scope = "layer", include=None,
               exclude=None, seed: int = 0, per_gate: bool = False, rounds: int = 10, definition: str | None = None,
               target: RewireTarget = "random", steps: int | None = None, start_from=None, rename=(),
               threshold=None, threshold_rel=None) -> PruneReport:
    """Load ``path``, :func:`prune_state` it, and write ``output`` atomically (nothing is written
    when anything fails).  What ``graphtools prune`` runs.

    Parameters
    ----------
    path : str or os.PathLike
        A checkpoint :func:`graphtools.io.load_state` reads.
    output : str or os.PathLike
        Where the pruned checkpoint goes: ``.npz`` or ``.safetensors``.
    method, sparsity, scope, include, exclude, seed, per_gate, rounds, definition, target, steps
        As in :func:`prune_state`.
    start_from : str or os.PathLike, optional
        A checkpoint whose (masked) weights rewire starts from.
    rename, threshold, threshold_rel
        :func:`graphtools.loading.prepare_tensors`, applied before pruning, so the output holds
        the new names, ONNX / Keras 3 recurrent weights in PyTorch's names and layout, and zeros
        where the threshold removed an edge.

    Returns
    -------
    PruneReport
        What :func:`prune_state` reports (also recorded in the output's ``graphtools.meta``).

    Raises
    ------
    GraphtoolsError
        For an unreadable input, an output that cannot be written, or a bad setting.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> source, pruned = os.path.join(folder, "model.npz"), os.path.join(folder, "pruned.npz")
    >>> np.savez(source, **{"fc.weight": np.arange(1.0, 17.0).reshape(4, 4)})
    >>> report = prune_file(source, pruned, method="magnitude", sparsity=0.75, include="fc.weight")
    >>> report.matrices[0].after.nnz
    4
    >>> sorted(np.load(pruned).files)
    ['fc.weight', 'fc.weight_mask']
    """
    _output_format(os.fspath(output))
    check_options(rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    checkpoint = load_state(path)
    tensors = prepare_tensors(checkpoint.tensors, rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    state, _, report = prune_state(tensors, method=method, sparsity=sparsity, scope=scope, include=include,
                                   exclude=exclude, seed=seed, per_gate=per_gate, rounds=rounds,
                                   definition=definition, target=target, steps=steps,
                                   start=_start_weights(start_from))
    write_pruned(output, state, checkpoint.metadata, report)
    return report
