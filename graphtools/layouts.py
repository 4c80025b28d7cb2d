"""Put ONNX and Keras 3 recurrent layouts into the names :mod:`graphtools.model` understands.

Runs on a plain ``name -> array`` state dict, after ``--rename`` and before
:func:`graphtools.model.describe`, whatever file the tensors came from
(``.onnx``, ``.h5``, ``.npz``, ``.safetensors``).

* **ONNX** ``LSTM`` / ``GRU`` / ``RNN`` operator weights (ONNX operator
  specification, opset 14+): ``W`` of shape ``(D, G*H, I)``, ``R`` of shape
  ``(D, G*H, H)``, optional ``B`` of shape ``(D, 2*G*H)`` (input then
  recurrent bias), ``D = 2`` for a bidirectional node.  Gate blocks are
  reordered to PyTorch's: LSTM ``i, o, f, c`` -> ``i, f, g, o``; GRU
  ``z, r, h`` -> ``r, z, n``.  Tensors named ``{prefix}W``, ``{prefix}R``,
  ``{prefix}B`` (prefix empty or ending in ``.`` or ``/``) become
  ``{prefix}weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``
  (and ``_reverse`` for direction 1).  The ``.onnx`` reader names every
  recurrent node's inputs that way.
* **Keras 3** weight files store a layer's variables by position:
  ``{path}/vars/0``, ``/1``, ``/2``.  A group of three whose shapes are
  ``(I, G*H)``, ``(H, G*H)`` and a bias is a recurrent cell: ``kernel``,
  ``recurrent_kernel``, ``bias``; a 2-D ``vars/0`` with a 1-D ``vars/1`` of
  as many columns is a Dense ``kernel`` and ``bias``.
"""

from __future__ import annotations

import re

import numpy as np

from graphtools.errors import GraphtoolsError

#: ONNX gate block order -> PyTorch's, per gate multiple G (index lists into ONNX blocks).
ONNX_GATE_ORDER = {1: [0], 3: [1, 0, 2], 4: [0, 2, 3, 1]}  # LSTM i,o,f,c -> i,f,g,o; GRU z,r,h -> r,z,n
ONNX_CELL = {1: "RNN", 3: "GRU", 4: "LSTM"}

ONNX_NAME = re.compile(r"^(?P<prefix>(?:.*[./])?)(?P<kind>W|R|B)$")
KERAS3_VAR = re.compile(r"^(?P<group>.*/vars)/(?P<index>\d+)$")


def _blocks(arr: np.ndarray, order: list[int]) -> np.ndarray:
    """Rows of ``arr`` (first axis) cut into ``len(order)`` blocks, put in ``order``."""
    size = arr.shape[0] // len(order)
    return np.concatenate([arr[g * size:(g + 1) * size] for g in order], axis=0)


def onnx_recurrent_shapes(W: np.ndarray, R: np.ndarray, B: np.ndarray | None) -> str | None:
    """Why ``(W, R, B)`` is not an ONNX recurrent layout, or None when it is."""
    if W.ndim != 3 or R.ndim != 3:
        return "W and R must be 3-D (directions, gates*hidden, inputs)"
    D, rows, hidden = R.shape
    if D not in (1, 2) or W.shape[:2] != (D, rows):
        return f"W {list(W.shape)} and R {list(R.shape)} disagree in directions or rows"
    if hidden == 0 or rows % hidden or rows // hidden not in ONNX_GATE_ORDER:
        return f"R {list(R.shape)}: rows must be 1, 3 or 4 times the hidden size {hidden}"
    if B is not None and B.shape != (D, 2 * rows):
        return f"B has shape {list(B.shape)}, expected {[D, 2 * rows]}"
    return None


def onnx_to_torch(prefix: str, W: np.ndarray, R: np.ndarray, B: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """PyTorch-named, PyTorch-laid-out tensors of one ONNX LSTM/GRU/RNN node's ``W``, ``R``, ``B``.

    Direction ``d = 1`` gets the ``_reverse`` suffix.  Raises GraphtoolsError when the
    shapes are not an ONNX recurrent layout.

    Example
    -------
    >>> import numpy as np
    >>> W, R = np.zeros((1, 8, 3)), np.zeros((1, 8, 2))
    >>> sorted(onnx_to_torch("lstm.", W, R))
    ['lstm.weight_hh_l0', 'lstm.weight_ih_l0']
    """
    problem = onnx_recurrent_shapes(W, R, B)
    if problem:
        raise GraphtoolsError(f"ONNX recurrent weights {prefix}W/R/B: {problem}")
    D, rows, hidden = R.shape
    order = ONNX_GATE_ORDER[rows // hidden]
    out: dict[str, np.ndarray] = {}
    for d in range(D):
        suffix = "_l0_reverse" if d == 1 else "_l0"
        out[f"{prefix}weight_ih{suffix}"] = _blocks(W[d], order)
        out[f"{prefix}weight_hh{suffix}"] = _blocks(R[d], order)
        if B is not None:
            out[f"{prefix}bias_ih{suffix}"] = _blocks(B[d, :rows], order)
            out[f"{prefix}bias_hh{suffix}"] = _blocks(B[d, rows:], order)
    return out


def _onnx_groups(tensors: dict[str, np.ndarray]) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    for name, arr in tensors.items():
        match = ONNX_NAME.match(name)
        if match and np.ndim(arr) in (2, 3):
            groups.setdefault(match["prefix"], {})[match["kind"]] = name
    return {p: g for p, g in groups.items() if "W" in g and "R" in g}


def _keras3_groups(tensors: dict[str, np.ndarray]) -> dict[str, dict[int, str]]:
    groups: dict[str, dict[int, str]] = {}
    for name in tensors:
        match = KERAS3_VAR.match(name)
        if match:
            groups.setdefault(match["group"], {})[int(match["index"])] = name
    return groups


def _keras3_names(group: str, members: dict[int, str], tensors) -> dict[str, str]:
    """Old name -> new name for one ``.../vars`` group, or {} when it is no known layer."""
    base = group[: -len("vars")]
    shapes = {i: np.shape(tensors[n]) for i, n in members.items()}
    if set(members) == {0, 1, 2} and len(shapes[0]) == 2 and len(shapes[1]) == 2:
        hidden, cols = shapes[1]
        if shapes[0][1] == cols and hidden and cols % hidden == 0 and cols // hidden in (1, 3, 4):
            return {members[0]: base + "kernel", members[1]: base + "recurrent_kernel", members[2]: base + "bias"}
    if set(members) == {0, 1} and len(shapes[0]) == 2 and shapes[1] == (shapes[0][1],):
        return {members[0]: base + "kernel", members[1]: base + "bias"}
    return {}


def canonical_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state dict with ONNX ``{p}W/R/B`` recurrent weights in PyTorch names and layout and
    Keras 3 ``vars/N`` variables named ``kernel`` / ``recurrent_kernel`` / ``bias``; every
    other tensor unchanged, in file order (a converted group takes the place of its ``W``).

    Example
    -------
    >>> import numpy as np
    >>> state = {"gru.W": np.ones((1, 6, 3)), "gru.R": np.ones((1, 6, 2)), "fc": np.ones((2, 2))}
    >>> list(canonical_tensors(state))
    ['gru.weight_ih_l0', 'gru.weight_hh_l0', 'fc']
    """
    onnx = {}
    for prefix, group in _onnx_groups(tensors).items():
        W, R = tensors[group["W"]], tensors[group["R"]]
        B = tensors.get(group.get("B", ""))
        if onnx_recurrent_shapes(W, R, B) is None:
            onnx[group["W"]] = (group, onnx_to_torch(prefix, W, R, B))
    consumed = {name for group, _ in onnx.values() for name in group.values()}
    renamed = {}
    for group, members in _keras3_groups(tensors).items():
        renamed.update(_keras3_names(group, members, tensors))
    out: dict[str, np.ndarray] = {}
    for name, arr in tensors.items():
        if name in onnx:
            new = onnx[name][1]
        elif name in consumed:
            continue
        else:
            new = {renamed.get(name, name): arr}
        for key, value in new.items():
            if key in out:
                raise GraphtoolsError(f"two tensors are named {key!r} once ONNX/Keras layouts are read")
            out[key] = value
    return out


def orphan_onnx_biases(tensors: dict[str, np.ndarray]) -> set[str]:
    """Names of 2-D tensors shaped like an ONNX recurrent bias ``B (D, 2*G*H)`` next to 3-D tensors
    shaped like its ``W (D, G*H, I)`` and ``R (D, G*H, H)`` whose names were not recognised.

    Such a ``B`` is no linear layer: analysing it as one (a star graph, trivially Ramanujan)
    would let a check pass on a file whose recurrent weights were never read.

    Example
    -------
    >>> import numpy as np
    >>> state = {"onnx::LSTM_1": np.ones((1, 8, 3)), "onnx::LSTM_2": np.ones((1, 8, 2)),
    ...          "onnx::LSTM_0": np.ones((1, 16)), "fc": np.ones((4, 2))}
    >>> sorted(orphan_onnx_biases(state))
    ['onnx::LSTM_0']
    """
    rows_of = set()
    three_d = [a.shape for a in tensors.values() if np.ndim(a) == 3]
    for d, rows, hidden in three_d:
        if d in (1, 2) and hidden and rows % hidden == 0 and rows // hidden in ONNX_GATE_ORDER \
                and sum(1 for shape in three_d if shape[:2] == (d, rows)) >= 2:
            rows_of.add((d, 2 * rows))
    return {n for n, a in tensors.items() if np.ndim(a) == 2 and a.shape in rows_of}


def recurrent_hint(tensors: dict[str, np.ndarray]) -> str | None:
    """A one-line hint when no name was recognised but the shapes look recurrent: a 2-D pair
    ``(G*H, I)`` and ``(G*H, H)`` with G in {1, 3, 4} (or its transpose), or 3-D ONNX-shaped
    ``W``/``R`` tensors under other names.  None when nothing looks recurrent."""
    two_d = [(n, a.shape) for n, a in tensors.items() if np.ndim(a) == 2]
    three_d = [(n, a.shape) for n, a in tensors.items() if np.ndim(a) == 3]
    for name_r, (d, rows, hidden) in three_d:
        for name_w, shape_w in three_d:
            if name_w != name_r and shape_w[:2] == (d, rows) and hidden and rows % hidden == 0 \
                    and rows // hidden in ONNX_GATE_ORDER and d in (1, 2):
                return (f"{name_w} {list(shape_w)} and {name_r} {[d, rows, hidden]} look like ONNX "
                        f"{ONNX_CELL[rows // hidden]} weights W and R; name them with --rename, e.g. "
                        f"--rename '^{re.escape(name_w)}$=rnn.W' --rename '^{re.escape(name_r)}$=rnn.R'")
    def looks(name: str, *words: str) -> int:
        return 0 if any(w in name.lower() for w in words) else 1

    for transpose in (False, True):
        for name_hh, shape_hh in sorted(two_d, key=lambda item: looks(item[0], "hh", "rec")):
            rows, hidden = shape_hh[::-1] if transpose else shape_hh
            if not hidden or rows % hidden or rows // hidden not in (1, 3, 4):
                continue
            for name_ih, shape_ih in sorted(two_d, key=lambda item: looks(item[0], "ih", "input", "kernel")):
                ih_rows = shape_ih[1] if transpose else shape_ih[0]
                if name_ih != name_hh and ih_rows == rows and (rows // hidden > 1 or shape_ih != shape_hh):
                    cell = ONNX_CELL[rows // hidden]
                    ih, hh = ("rnn/kernel", "rnn/recurrent_kernel") if transpose else (
                        "rnn.weight_ih_l0", "rnn.weight_hh_l0")
                    return (f"{name_ih} {list(shape_ih)} and {name_hh} {list(shape_hh)} look like the input and "
                            f"recurrent weights of a {cell} (hidden {hidden}) but no recurrent names were "
                            f"recognised; map them with --rename, e.g. --rename "
                            f"'^{re.escape(name_ih)}$={ih}' --rename '^{re.escape(name_hh)}$={hh}'")
    return None
