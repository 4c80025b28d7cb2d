"""Read ``.onnx`` models: initializers as tensors, recurrent nodes as PyTorch-named weights.

Needs the ``onnx`` package (optional extra ``graphtools[onnx]``), imported only
when an ``.onnx`` file is read.  Nothing is executed: the model protobuf is
parsed and its stored tensors are decoded.

* Every initializer (and every ``Constant`` node's tensor of 2 or more
  dimensions; smaller ones are shapes and indices) becomes a tensor
  under its own name.  Sizes are checked against the bytes the file really
  holds before anything is allocated; external data and sparse initializers
  are refused.
* Every ``LSTM`` / ``GRU`` / ``RNN`` node whose ``W`` and ``R`` inputs are
  stored tensors becomes one recurrent module named after the node
  (``{node}.weight_ih_l0`` ...): :func:`graphtools.layouts.onnx_to_torch`
  reorders the gates to PyTorch's and splits ``B`` into ``bias_ih`` and
  ``bias_hh``; a ``bidirectional`` node gets ``_reverse`` weights.  A
  ``reverse``-only node is read as one direction (its graph is the same up to
  the direction of time), GRU ``linear_before_reset`` and LSTM peepholes are
  reported as notes (peepholes ``P`` stay 1-D vectors, never graph edges).
"""

from __future__ import annotations

import math
import os

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.layouts import onnx_recurrent_shapes, onnx_to_torch

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
NOTES_KEY = "graphtools.notes"


def _import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise GraphtoolsError("reading .onnx files needs the onnx package: pip install 'graphtools[onnx]'") from None
    return onnx, numpy_helper


def _tensor(path: str, proto, onnx, numpy_helper) -> np.ndarray | None:
    """The array of one TensorProto, or None when it is not numeric (strings)."""
    name = proto.name
    if proto.data_location == onnx.TensorProto.EXTERNAL or proto.external_data:
        raise GraphtoolsError(f"{path}: tensor {name!r} keeps its data in an external file, which graphtools "
                              "does not follow; save the model with its data inside (onnx.save(model, f, "
                              "save_as_external_data=False))")
    if proto.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    dims = list(proto.dims)
    if any(d < 0 for d in dims):
        raise GraphtoolsError(f"{path}: tensor {name!r} has a negative dimension {dims}")
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(proto.data_type))
    except (KeyError, ValueError, TypeError):
        raise GraphtoolsError(f"{path}: tensor {name!r} has an unknown data type {proto.data_type}") from None
    if dtype.kind == "c":
        raise GraphtoolsError(f"{path}: tensor {name!r} is complex ({dtype}); weights must be real")
    count = math.prod(dims)
    if proto.HasField("raw_data"):
        packed = {getattr(onnx.TensorProto, t, -1): bits for t, bits in (
            ("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2), ("FLOAT6E2M3", 6),
            ("FLOAT6E3M2", 6))}
        bits = packed.get(proto.data_type, dtype.itemsize * 8)
        held, needed = len(proto.raw_data), -(-count * bits // 8)
    else:
        fields = [f for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
                  if len(getattr(proto, f))]
        held = sum(len(getattr(proto, f)) for f in fields)
        needed = count
    if held != needed:
        raise GraphtoolsError(f"{path}: tensor {name!r} is truncated or corrupt: its dims {dims} need "
                              f"{needed} {'bytes' if proto.HasField('raw_data') else 'values'}, the file holds {held}")
    try:
        arr = np.asarray(numpy_helper.to_array(proto))
    except Exception as exc:  # onnx raises assorted types on malformed tensors
        raise GraphtoolsError(f"{path}: tensor {name!r} cannot be decoded ({type(exc).__name__}: {exc})") from None
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "V" or str(arr.dtype).startswith(("bfloat16", "float8")):
            arr = arr.astype(np.float32)
        else:
            raise GraphtoolsError(f"{path}: tensor {name!r} has non-numeric type {arr.dtype}")
    return arr


def _attributes(node, onnx) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def load_onnx(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of an ``.onnx`` file: initializers by name, recurrent nodes'
    weights in PyTorch names; ``metadata["graphtools.notes"]`` holds the notes (one per line).

    Raises GraphtoolsError (one line) for a missing ``onnx`` package or a corrupt file.

    Example
    -------
    >>> import os, tempfile, numpy as np, onnx
    >>> from onnx import helper, numpy_helper
    >>> W, R = numpy_helper.from_array(np.ones((1, 6, 3), np.float32), "W"), \\
    ...     numpy_helper.from_array(np.ones((1, 6, 2), np.float32), "R")
    >>> node = helper.make_node("GRU", ["x", "W", "R"], ["y"], name="gru", hidden_size=2)
    >>> graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [5, 1, 3])],
    ...                           [helper.make_tensor_value_info("y", 1, None)], initializer=[W, R])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> sorted(load_onnx(path)[0])
    ['gru.weight_hh_l0', 'gru.weight_ih_l0']
    """
    onnx, numpy_helper = _import_onnx()
    size = os.path.getsize(path)
    if size >= 2**31:
        raise GraphtoolsError(f"{path}: an .onnx file holds at most 2 GB (protobuf); this one has {size} bytes")
    with open(path, "rb") as handle:
        data = handle.read()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # google.protobuf.message.DecodeError and friends
        raise GraphtoolsError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    del data
    graph = model.graph
    if graph.sparse_initializer:
        raise GraphtoolsError(f"{path}: sparse initializers are not supported; store them dense")
    protos = list(graph.initializer)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t") and node.output and len(attr.t.dims) >= 2:
                    proto = onnx.TensorProto()
                    proto.CopyFrom(attr.t)
                    proto.name = node.output[0]
                    protos.append(proto)
    tensors: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for proto in protos:
        arr = _tensor(path, proto, onnx, numpy_helper)
        if arr is None:
            notes.append(f"tensor {proto.name!r} holds strings: not read")
        elif proto.name in tensors:
            raise GraphtoolsError(f"{path}: tensor {proto.name!r} appears more than once")
        else:
            tensors[proto.name] = arr
    if not graph.node and not tensors:
        raise GraphtoolsError(f"{path}: not an ONNX model (no graph)")
    replace: dict[str, dict[str, np.ndarray]] = {}  # W's name -> the converted tensors
    consumed: set[str] = set()
    for index, node in enumerate(graph.node):
        if node.op_type not in RECURRENT_OPS or node.domain not in ("", "ai.onnx"):
            continue
        label = node.name or f"{node.op_type}_{index}"
        inputs = list(node.input) + [""] * 8
        w_name, r_name, b_name = inputs[1], inputs[2], inputs[3]
        if w_name not in tensors or r_name not in tensors:
            notes.append(f"ONNX {node.op_type} node {label!r}: W or R is computed at run time, not stored: not analysed")
            continue
        attrs = _attributes(node, onnx)
        W, R = tensors[w_name], tensors[r_name]
        B = tensors.get(b_name) if b_name else None
        problem = onnx_recurrent_shapes(W, R, B)
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
        if problem is None and R.shape[1] != gates * R.shape[2]:
            problem = f"R {list(R.shape)} has {R.shape[1]} rows, a {node.op_type} has {gates} x hidden"
        if problem is None and "hidden_size" in attrs and attrs["hidden_size"] != R.shape[2]:
            problem = f"hidden_size {attrs['hidden_size']} but R has {R.shape[2]} columns"
        direction = attrs.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else str(direction)
        if problem is None and (R.shape[0] == 2) != (direction == "bidirectional"):
            problem = f"direction {direction!r} with {R.shape[0]} weight direction(s)"
        if problem:
            raise GraphtoolsError(f"{path}: ONNX {node.op_type} node {label!r}: {problem}")
        prefix = label + "."
        converted = onnx_to_torch(prefix, W, R, B)
        if direction == "reverse":
            notes.append(f"ONNX {node.op_type} node {label!r} runs in reverse only: read as one direction "
                         "(the same graph, time reversed)")
        if node.op_type == "GRU":
            lbr = int(attrs.get("linear_before_reset", 0))
            notes.append(f"ONNX GRU node {label!r}: linear_before_reset={lbr}"
                         + (" (as PyTorch's GRU)" if lbr else " (PyTorch's GRU uses 1; the graphs are the same, "
                            "the cell's arithmetic differs)"))
        if node.op_type == "LSTM" and len(node.input) > 7 and inputs[7] in tensors:
            P = tensors[inputs[7]]
            if P.shape != (R.shape[0], 3 * R.shape[2]):
                raise GraphtoolsError(f"{path}: ONNX LSTM node {label!r}: peephole P has shape {list(P.shape)}, "
                                      f"expected {[R.shape[0], 3 * R.shape[2]]}")
            for d in range(P.shape[0]):
                converted[f"{prefix}peephole_l0{'_reverse' if d else ''}"] = P[d]
            consumed.add(inputs[7])
            notes.append(f"ONNX LSTM node {label!r} has peephole weights (cell-to-gate, diagonal): "
                         "not part of the graphs")
        replace[w_name] = converted
        consumed.update(n for n in (w_name, r_name, b_name) if n)
    out: dict[str, np.ndarray] = {}
    for name, arr in tensors.items():
        if name in replace:
            out.update(replace[name])
        elif name not in consumed:
            out[name] = arr
    return out, ({NOTES_KEY: "\n".join(notes)} if notes else {})
