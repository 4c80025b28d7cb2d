"""Describe a state dict as recurrent modules plus other linear layers.

Naming schemes understood (docs/measures.md):

* PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (and the ``*Cell`` classes):
  ``{prefix}weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
  ``bias_hh_l{k}``, ``weight_hr_l{k}`` (LSTM projection), suffix ``_reverse``
  for the backward direction, any prefix ending in ``.``.  The cell follows
  from the gate multiple ``G = rows(weight_hh) / hidden``: 1 RNN, 4 LSTM
  (gate blocks i, f, g, o), 3 GRU (r, z, n).
* Keras ``SimpleRNN`` / ``LSTM`` / ``GRU``: ``.../kernel`` ``(in, G*H)`` and
  ``.../recurrent_kernel`` ``(H, G*H)``, transposed on load to PyTorch's
  ``(out, in)``.  Keras LSTM gates i, f, c, o are PyTorch's i, f, g, o; Keras
  GRU gates z, r, h are reordered to PyTorch's r, z, n.  ``forward_*`` /
  ``backward_*`` path components make a bidirectional layer; consecutive
  layers whose sizes chain form one stacked module.  Biases: ``(G*H,)``; a
  GRU with ``reset_after`` ``(2, 3H)``; CuDNNLSTM / CuDNNGRU ``(8H,)`` /
  ``(6H,)`` (input then recurrent half).  ONNX and Keras 3 layouts are put
  into these names first (:mod:`graphtools.layouts`).
* ``torch.nn.utils.prune`` left un-made-permanent: ``X_orig`` and ``X_mask``
  become ``X = X_orig * X_mask``; a ``X_mask`` next to ``X`` is applied to ``X``.
* Any other 2-D array is a generic linear layer (e.g. ``fc.weight``); a Keras
  ``kernel`` without a ``recurrent_kernel`` is a Dense layer, transposed.

A checkpoint whose shapes contradict its names raises GraphtoolsError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from graphtools.errors import GraphtoolsError

#: Row-block gate names of each cell, in PyTorch's order: the one cell/gate table of the package
#: (the names below are views of it; other modules import them instead of writing their own).
CELL_GATES: dict[str, tuple[str, ...]] = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: The cells graphtools knows, in the table's order.
CELLS: tuple[str, ...] = tuple(CELL_GATES)
#: Row blocks of each cell's weights (1 for the RNN: its weight is one block).
GATE_BLOCKS: dict[str, int] = {cell: max(1, len(gates)) for cell, gates in CELL_GATES.items()}
#: The cell whose weights have a given number of row blocks.
CELL_OF_BLOCKS: dict[int, str] = {blocks: cell for cell, blocks in GATE_BLOCKS.items()}
#: Suffix of a mask stored next to its weight (``rnn.weight_hh_l0_mask``), as torch.nn.utils.prune names it.
MASK_SUFFIX = "_mask"

TORCH_NAME = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<kind>weight_ih|weight_hh|weight_hr|bias_ih|bias_hh)"
    r"(?:_l(?P<layer>\d+))?(?P<reverse>_reverse)?$"
)
KERAS_NAME = re.compile(r"^(?P<prefix>(?:.*[/.])?)(?P<kind>recurrent_kernel|kernel|bias)(?::\d+)?$")


@dataclass(frozen=True)
class Weight:
    """A 2-D weight in PyTorch layout ``(out, in)``, masks applied, ready to become a graph.

    ``name`` is the exact state-dict key (for a ``torch.nn.utils.prune`` pair, the
    parameter name without ``_orig``); ``sources`` are the keys it was read from.
    ``gates`` names the equal row blocks (empty when the matrix has no gates).
    """

    name: str
    matrix: np.ndarray
    kind: Literal["ih", "hh", "hr", "linear"]
    gates: tuple[str, ...] = ()
    layer: int | None = None
    reverse: bool = False
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecurrentLayer:
    """One layer and direction of a recurrent module."""

    layer: int
    reverse: bool
    weight_ih: Weight
    weight_hh: Weight
    weight_hr: Weight | None = None
    bias_ih: np.ndarray | None = None
    bias_hh: np.ndarray | None = None


@dataclass(frozen=True)
class RecurrentModule:
    """A (possibly stacked, possibly bidirectional) RNN, LSTM or GRU found in the state dict."""

    prefix: str
    naming: Literal["pytorch", "keras"]
    cell: Literal["rnn", "lstm", "gru"]
    num_layers: int
    bidirectional: bool
    input_size: int
    hidden_size: int
    proj_size: int  # 0 when there is no projection, as in PyTorch
    layers: tuple[RecurrentLayer, ...]

    def architecture(self) -> dict:
        """The constructor arguments of the equivalent ``torch.nn`` module (plus the cell)."""
        return {
            "cell": self.cell,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "proj_size": self.proj_size,
        }


@dataclass(frozen=True)
class ModelDescription:
    """Recurrent modules and every 2-D weight of a checkpoint, in canonical order."""

    modules: tuple[RecurrentModule, ...]
    weights: tuple[Weight, ...]

    @property
    def linear(self) -> tuple[Weight, ...]:
        """2-D weights outside any recurrent module (heads, embeddings, ...)."""
        return tuple(w for w in self.weights if w.kind == "linear")

    def architecture(self) -> dict:
        """Architecture of the first recurrent module; sizes are None when there is none."""
        if self.modules:
            return self.modules[0].architecture()
        return {"cell": None, "num_layers": 0, "bidirectional": False,
                "input_size": None, "hidden_size": None, "proj_size": None}


# ---------------------------------------------------------------- masks


def _effective_tensors(tensors: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Apply ``X_mask`` to ``X_orig`` (or to ``X``); drop the masks. Keeps file order."""
    masked = {
        key[: -len(MASK_SUFFIX)]
        for key in tensors
        if key.endswith(MASK_SUFFIX) and (key[: -len(MASK_SUFFIX)] in tensors or key[: -len(MASK_SUFFIX)] + "_orig" in tensors)
    }
    out: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
    for key, arr in tensors.items():
        if key.endswith(MASK_SUFFIX) and key[: -len(MASK_SUFFIX)] in masked:
            continue
        base = key[: -len("_orig")] if key.endswith("_orig") else None
        if base is not None and base in masked:
            name, source = base, key
        elif key in masked and key + "_orig" not in tensors:
            name, source = key, key
        elif key in masked:
            continue  # X_orig * X_mask wins over a stale X
        else:
            out[key] = (arr, (key,))
            continue
        mask_key = name + MASK_SUFFIX
        mask = tensors[mask_key]
        if mask.shape != arr.shape:
            raise GraphtoolsError(
                f"mask {mask_key!r} has shape {list(mask.shape)} but {source!r} has {list(arr.shape)}"
            )
        if not np.isin(mask, (0, 1)).all():
            raise GraphtoolsError(f"mask {mask_key!r} holds values other than 0 and 1")
        out[name] = (arr * mask.astype(arr.dtype), (source, mask_key))
    return out


# ---------------------------------------------------------------- helpers


def _fail(name: str, shape, expected: str) -> GraphtoolsError:
    return GraphtoolsError(f"{name} has shape {list(shape)}, expected {expected}")


def _cell_from(name: str, rows: int, hidden: int) -> str:
    if hidden == 0 or rows % hidden or rows // hidden not in CELL_OF_BLOCKS:
        raise GraphtoolsError(
            f"{name} has {rows} rows for hidden size {hidden}: a recurrent weight has "
            "1, 3 or 4 times the hidden size in rows (RNN, GRU, LSTM)"
        )
    return CELL_OF_BLOCKS[rows // hidden]


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


#: Sort key that orders embedded numbers by value (``layer2`` before ``layer10``).
natural_key = _natural_key


# ---------------------------------------------------------------- PyTorch


def _torch_module(prefix: str, entries: dict) -> tuple[RecurrentModule, list[Weight]]:
    """Validate and describe one PyTorch-named module. ``entries[(kind, layer, reverse)] = (name, arr, sources)``."""
    label = prefix or "(no prefix)"
    slots = sorted({(layer, rev) for (_, layer, rev) in entries})
    layer_ids = sorted({layer for layer, _ in slots})
    if layer_ids != list(range(len(layer_ids))):
        raise GraphtoolsError(f"recurrent module {label}: layers {layer_ids} are not numbered 0..{len(layer_ids) - 1}")
    bidirectional = any(rev for _, rev in slots)
    for layer in layer_ids:
        for rev in ((False, True) if bidirectional else (False,)):
            for kind in ("weight_ih", "weight_hh"):
                if (kind, layer, rev) not in entries:
                    raise GraphtoolsError(
                        f"recurrent module {label}: {prefix}{kind}_l{layer}{'_reverse' if rev else ''} is missing"
                    )
    name_hh, hh, _ = entries[("weight_hh", 0, False)]
    if hh.ndim != 2:
        raise _fail(name_hh, hh.shape, "a 2-D matrix")
    rows = hh.shape[0]
    hr_entry = entries.get(("weight_hr", 0, False))
    if hr_entry is not None:
        name_hr, hr, _ = hr_entry
        if hr.ndim != 2 or hr.shape[0] != hh.shape[1]:
            raise _fail(name_hr, hr.shape, f"(proj_size, hidden) with proj_size = columns of {name_hh} = {hh.shape[1]}")
        hidden, proj = hr.shape[1], hr.shape[0]
        if proj >= hidden:
            raise _fail(name_hr, hr.shape, "(proj_size, hidden) with proj_size < hidden, as PyTorch requires")
        cell = _cell_from(name_hh, rows, hidden)
        if cell != "lstm":
            raise GraphtoolsError(f"{name_hr}: a projection (weight_hr) exists only for LSTM, but {name_hh} is a {cell.upper()}")
    else:
        hidden, proj = hh.shape[1], 0
        cell = _cell_from(name_hh, rows, hidden)
    gates = CELL_GATES[cell]
    out_size = proj or hidden
    input_size = None
    layers, weights = [], []
    for layer, rev in slots:
        def get(kind):
            return entries.get((kind, layer, rev))

        name_ih, ih, src_ih = get("weight_ih")
        name_hh, hh, src_hh = get("weight_hh")
        expected_in = None if layer == 0 else out_size * (2 if bidirectional else 1)
        if ih.ndim != 2 or ih.shape[0] != rows or (expected_in is not None and ih.shape[1] != expected_in):
            cols = "input_size" if expected_in is None else f"{expected_in} (layer {layer - 1}'s output)"
            raise _fail(name_ih, ih.shape, f"({rows}, {cols}) for a {cell.upper()} with hidden size {hidden}")
        if layer == 0:
            if input_size is None:
                input_size = ih.shape[1]
            elif ih.shape[1] != input_size:
                raise _fail(name_ih, ih.shape, f"({rows}, {input_size}) like the forward direction")
        if hh.shape != (rows, out_size):
            raise _fail(name_hh, hh.shape, f"({rows}, {out_size}) for a {cell.upper()} with hidden size {hidden}")
        hr_w = None
        if proj:
            if get("weight_hr") is None:
                raise GraphtoolsError(f"recurrent module {label}: weight_hr is missing in layer {layer}")
            name_hr, hr, src_hr = get("weight_hr")
            if hr.shape != (proj, hidden):
                raise _fail(name_hr, hr.shape, f"({proj}, {hidden})")
            hr_w = Weight(name_hr, hr, "hr", (), layer, rev, src_hr)
        elif get("weight_hr") is not None:
            raise GraphtoolsError(f"recurrent module {label}: weight_hr exists in layer {layer} but not in layer 0")
        biases = {}
        for kind in ("bias_ih", "bias_hh"):
            entry = get(kind)
            if entry is not None and entry[1].shape != (rows,):
                raise _fail(entry[0], entry[1].shape, f"({rows},)")
            biases[kind] = None if entry is None else entry[1]
        ih_w = Weight(name_ih, ih, "ih", gates, layer, rev, src_ih)
        hh_w = Weight(name_hh, hh, "hh", gates, layer, rev, src_hh)
        layers.append(RecurrentLayer(layer, rev, ih_w, hh_w, hr_w, biases["bias_ih"], biases["bias_hh"]))
        weights += [w for w in (ih_w, hh_w, hr_w) if w is not None]
    module = RecurrentModule(prefix, "pytorch", cell, len(layer_ids), bidirectional,
                             input_size, hidden, proj, tuple(layers))
    return module, weights


# ---------------------------------------------------------------- Keras


KERAS_GATE_ORDER = {"rnn": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}  # Keras GRU z,r,h -> r,z,n


def _keras_rows(arr: np.ndarray, cell: str, hidden: int) -> np.ndarray:
    """Transpose a Keras kernel to (out, in) and put its gate blocks in PyTorch's order."""
    blocks = [arr.T[g * hidden:(g + 1) * hidden] for g in KERAS_GATE_ORDER[cell]]
    return np.concatenate(blocks, axis=0)


def _keras_unit(prefix: str) -> tuple[str, bool]:
    """(layer key, reverse?) of a Keras weight prefix: forward_*/backward_* share one key."""
    parts = re.split(r"[/.]", prefix.rstrip("/."))
    for i, part in enumerate(parts):
        if part.startswith(("forward", "backward")):
            return "/".join(parts[:i]), part.startswith("backward")
    return prefix.rstrip("/."), False


def _keras_layers(groups: dict[str, dict]) -> list[dict]:
    """One dict per Keras recurrent unit (both directions), in natural name order."""
    units: dict[str, dict] = {}
    for prefix, group in groups.items():
        kernel, rkernel = group.get("kernel"), group["recurrent_kernel"]
        name_rk, rk, src_rk = rkernel
        if kernel is None:
            raise GraphtoolsError(f"Keras layer {prefix!r}: recurrent_kernel without a kernel")
        name_k, k, src_k = kernel
        if rk.ndim != 2 or k.ndim != 2:
            raise _fail(name_rk, rk.shape, "a 2-D (hidden, G*hidden) matrix")
        hidden = rk.shape[0]
        cell = _cell_from(name_rk, rk.shape[1], hidden)
        if k.shape[1] != rk.shape[1]:
            raise _fail(name_k, k.shape, f"(input_size, {rk.shape[1]}) like {name_rk}")
        bias = group.get("bias")
        b_ih = b_hh = None
        if bias is not None:
            b = bias[1]
            if b.shape == (rk.shape[1],):
                b_ih = _keras_rows(b[None, :], cell, hidden)[:, 0]
            elif cell == "gru" and b.shape == (2, rk.shape[1]):  # GRU reset_after: input and recurrent rows
                b_ih = _keras_rows(b[0][None, :], cell, hidden)[:, 0]
                b_hh = _keras_rows(b[1][None, :], cell, hidden)[:, 0]
            elif cell != "rnn" and b.shape == (2 * rk.shape[1],):  # CuDNNLSTM 8H, CuDNNGRU 6H: input, recurrent
                b_ih = _keras_rows(b[None, :rk.shape[1]], cell, hidden)[:, 0]
                b_hh = _keras_rows(b[None, rk.shape[1]:], cell, hidden)[:, 0]
            else:
                raise _fail(bias[0], b.shape, f"({rk.shape[1]},), or (2, {rk.shape[1]}) for a GRU with "
                            f"reset_after, or ({2 * rk.shape[1]},) for CuDNNLSTM/CuDNNGRU")
        key, rev = _keras_unit(prefix)
        unit = units.setdefault(key, {"key": key, "cell": cell, "hidden": hidden, "dirs": {}})
        if unit["cell"] != cell or unit["hidden"] != hidden:
            raise GraphtoolsError(f"Keras bidirectional layer {key!r}: its two directions differ in cell or size")
        unit["dirs"][rev] = dict(
            ih=(name_k, _keras_rows(k, cell, hidden), src_k),
            hh=(name_rk, _keras_rows(rk, cell, hidden), src_rk),
            b_ih=b_ih, b_hh=b_hh, input_size=k.shape[0],
        )
    return [units[key] for key in sorted(units, key=_natural_key)]


def _keras_modules(groups: dict[str, dict]) -> tuple[list[RecurrentModule], list[Weight]]:
    modules, weights, current = [], [], None
    for unit in _keras_layers(groups):
        dirs = unit["dirs"]
        if set(dirs) == {True}:
            raise GraphtoolsError(f"Keras layer {unit['key']!r}: a backward direction without a forward one")
        bidirectional = len(dirs) == 2
        if bidirectional and dirs[False]["input_size"] != dirs[True]["input_size"]:
            raise GraphtoolsError(f"Keras bidirectional layer {unit['key']!r}: directions differ in input size")
        in_size = dirs[False]["input_size"]
        chains = (
            current is not None
            and current["cell"] == unit["cell"]
            and current["hidden"] == unit["hidden"]
            and current["bidirectional"] == bidirectional
            and in_size == unit["hidden"] * (2 if bidirectional else 1)
        )
        if not chains:
            current = dict(prefix=unit["key"], cell=unit["cell"], hidden=unit["hidden"],
                           bidirectional=bidirectional, input_size=in_size, layers=[])
            modules.append(current)
        index = len({layer.layer for layer in current["layers"]})
        gates = CELL_GATES[unit["cell"]]
        for rev in sorted(dirs):
            d = dirs[rev]
            ih = Weight(d["ih"][0], d["ih"][1], "ih", gates, index, rev, d["ih"][2])
            hh = Weight(d["hh"][0], d["hh"][1], "hh", gates, index, rev, d["hh"][2])
            current["layers"].append(RecurrentLayer(index, rev, ih, hh, None, d["b_ih"], d["b_hh"]))
            weights += [ih, hh]
    described = [
        RecurrentModule(m["prefix"], "keras", m["cell"], len({layer.layer for layer in m["layers"]}),
                        m["bidirectional"], m["input_size"], m["hidden"], 0, tuple(m["layers"]))
        for m in modules
    ]
    return described, weights


# ---------------------------------------------------------------- entry point


def describe(tensors: dict[str, np.ndarray]) -> ModelDescription:
    """Find the recurrent modules and 2-D weights of a ``name -> array`` state dict.

    Raises GraphtoolsError when shapes contradict names, or when there is no
    2-D weight at all.
    """
    effective = _effective_tensors(tensors)
    torch_groups: dict[str, dict] = {}
    keras_groups: dict[str, dict] = {}
    claimed: set[str] = set()
    for name, (arr, sources) in effective.items():
        match = TORCH_NAME.match(name)
        if match:
            key = (match["kind"], int(match["layer"] or 0), bool(match["reverse"]))
            group = torch_groups.setdefault(match["prefix"], {})
            if key in group:
                raise GraphtoolsError(f"{name} and {group[key][0]} describe the same weight")
            group[key] = (name, arr, sources)
            continue
        match = KERAS_NAME.match(name)
        if match:
            keras_groups.setdefault(match["prefix"], {})[match["kind"]] = (name, arr, sources)
    # A group of biases alone (no recurrent weight) is no module; its 1-D tensors are skipped.
    torch_groups = {p: g for p, g in torch_groups.items() if any(k[0].startswith("weight") for k in g)}
    modules: list[RecurrentModule] = []
    weights: list[Weight] = []
    for prefix, group in torch_groups.items():
        module, found = _torch_module(prefix, group)
        modules.append(module)
        weights += found
        claimed.update(entry[0] for entry in group.values())
    recurrent_keras = {p: g for p, g in keras_groups.items() if "recurrent_kernel" in g}
    if recurrent_keras:
        keras_modules, found = _keras_modules(recurrent_keras)
        modules += keras_modules
        weights += found
        claimed.update(entry[0] for g in recurrent_keras.values() for entry in g.values())
    for prefix, group in keras_groups.items():
        if prefix not in recurrent_keras and "kernel" in group:
            name, arr, sources = group["kernel"]
            if arr.ndim == 2:
                weights.append(Weight(name, arr.T, "linear", (), None, False, sources))
                claimed.add(name)
    for name, (arr, sources) in effective.items():
        if name not in claimed and arr.ndim == 2:
            weights.append(Weight(name, arr, "linear", (), None, False, sources))
    if not weights:
        raise GraphtoolsError(
            f"no 2-D weight matrix to analyse (the file holds {len(tensors)} tensor(s), none of them 2-D)"
        )
    # Canonical order, independent of how the file stores its tensors (safetensors writers sort
    # by dtype and name; torch.nn.utils.prune moves pruned weights to the end): recurrent
    # modules by prefix, each layer by (layer, direction) with ih, hh, hr; then the rest by name.
    modules.sort(key=lambda m: _natural_key(m.prefix))
    recurrent = [w for m in modules for layer in m.layers
                 for w in (layer.weight_ih, layer.weight_hh, layer.weight_hr) if w is not None]
    others = sorted((w for w in weights if w.kind == "linear"), key=lambda w: _natural_key(w.name))
    return ModelDescription(tuple(modules), tuple(recurrent + others))
