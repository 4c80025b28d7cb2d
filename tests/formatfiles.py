"""Writers of small ONNX and Keras weight files from PyTorch-layout state dicts, for tests.

Written from the file formats' own conventions (gate names spelled out), independently
of graphtools.layouts, so a test comparing the two layouts checks the reorder.
"""

import io
import zipfile

import numpy as np

TORCH_GATES = {"rnn": ("h",), "gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}
#: Gate order of each file format, named by PyTorch's gate names (ONNX LSTM i,o,f,c; GRU z,r,h).
ONNX_ORDER = {"rnn": ("h",), "gru": ("z", "r", "n"), "lstm": ("i", "o", "f", "g")}
KERAS_ORDER = {"rnn": ("h",), "gru": ("z", "r", "n"), "lstm": ("i", "f", "g", "o")}  # Keras i,f,c,o; z,r,h


def reorder(arr, cell, order):
    """Rows (first axis) of a PyTorch-ordered gated array put in ``order`` (gate names)."""
    names = TORCH_GATES[cell]
    size = arr.shape[0] // len(names)
    blocks = {g: arr[k * size:(k + 1) * size] for k, g in enumerate(names)}
    return np.concatenate([blocks[g] for g in order[cell]], axis=0)


def directions(state, prefix, layer=0):
    suffixes = ["", "_reverse"] if f"{prefix}weight_ih_l{layer}_reverse" in state else [""]
    return [suffix for suffix in suffixes]


# ------------------------------------------------------------------ ONNX


def onnx_weights(state, prefix, cell, layer=0):
    """W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) of one PyTorch layer, in ONNX gate order."""
    W, R, B = [], [], []
    for suffix in directions(state, prefix, layer):
        key = f"l{layer}{suffix}"
        W.append(reorder(state[f"{prefix}weight_ih_{key}"], cell, ONNX_ORDER))
        R.append(reorder(state[f"{prefix}weight_hh_{key}"], cell, ONNX_ORDER))
        B.append(np.concatenate([reorder(state[f"{prefix}bias_ih_{key}"], cell, ONNX_ORDER),
                                 reorder(state[f"{prefix}bias_hh_{key}"], cell, ONNX_ORDER)]))
    return np.stack(W), np.stack(R), np.stack(B)


def write_onnx(path, modules, extra_initializers=(), names=None):
    """An ONNX graph with one recurrent node per ``(op, node name, W, R, B, attrs)`` in ``modules``,
    chained input to output; ``names`` maps W/R/B of node k to initializer names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    current = "x"
    for k, (op, name, W, R, B, attrs) in enumerate(modules):
        wn, rn, bn = (names or {}).get(k, (f"{name}_W", f"{name}_R", f"{name}_B"))
        inits += [numpy_helper.from_array(W, wn), numpy_helper.from_array(R, rn)]
        inputs = ["" if current is None else current, wn, rn]
        if B is not None:
            inits.append(numpy_helper.from_array(B, bn))
            inputs.append(bn)
        direction = "bidirectional" if W.shape[0] == 2 else attrs.pop("direction", "forward")
        nodes.append(helper.make_node(op, inputs, [f"y{k}"], name=name, hidden_size=R.shape[2],
                                      direction=direction, **attrs))
        current = f"y{k}"
    inits += [numpy_helper.from_array(a, n) for n, a in extra_initializers]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 1, None])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)], initializer=inits)
    onnx.save(helper.make_model(graph), str(path))
    return path


# ------------------------------------------------------------------ Keras


def keras_weights(state, prefix, cell, layer=0, suffix="", bias="standard"):
    """kernel (I, G*H), recurrent_kernel (H, G*H), bias of one PyTorch layer/direction in Keras layout.

    bias: "standard" (G*H,), "cudnn" (2*G*H,), "reset_after" (2, G*H), or None."""
    key = f"l{layer}{suffix}"
    kernel = reorder(state[f"{prefix}weight_ih_{key}"], cell, KERAS_ORDER).T
    recurrent = reorder(state[f"{prefix}weight_hh_{key}"], cell, KERAS_ORDER).T
    b_ih = reorder(state[f"{prefix}bias_ih_{key}"], cell, KERAS_ORDER)
    b_hh = reorder(state[f"{prefix}bias_hh_{key}"], cell, KERAS_ORDER)
    b = {"standard": b_ih, "cudnn": np.concatenate([b_ih, b_hh]), "reset_after": np.stack([b_ih, b_hh]),
         None: None}[bias]
    return np.ascontiguousarray(kernel), np.ascontiguousarray(recurrent), b


def write_h5(target, datasets):
    """An HDF5 file (path or file object) with ``{path: array}`` datasets."""
    import h5py

    with h5py.File(target, "w") as f:
        for name, arr in datasets.items():
            f.create_dataset(name, data=arr)
    return target


def keras2_datasets(layers, model_weights=True):
    """Keras 2 ``model.save`` datasets: ``[model_weights/]{layer}/{layer}/kernel:0`` ...; ``layers`` maps a
    layer path (e.g. ``lstm`` or ``bidirectional/forward_lstm``) to (kernel, recurrent_kernel, bias)."""
    root = "model_weights/" if model_weights else ""
    out = {}
    for path, (k, rk, b) in layers.items():
        top = path.split("/")[0]
        base = f"{root}{top}/{path}/"
        out[base + "kernel:0"] = k
        out[base + "recurrent_kernel:0"] = rk
        if b is not None:
            out[base + "bias:0"] = b
    out["optimizer_weights/training/Adam/lstm/kernel/m:0"] = np.ones((3, 3), np.float32)
    return out


def keras3_datasets(layers):
    """Keras 3 ``.weights.h5`` datasets: ``layers/{path}/cell/vars/0, 1, 2``."""
    out = {}
    for path, (k, rk, b) in layers.items():
        base = f"layers/{path}/cell/vars/"
        out[base + "0"], out[base + "1"] = k, rk
        if b is not None:
            out[base + "2"] = b
    out["optimizer/vars/0"] = np.zeros((), np.int64)
    return out


def write_keras_zip(path, datasets):
    """A Keras 3 ``.keras`` archive: config.json, metadata.json and model.weights.h5."""
    buffer = io.BytesIO()
    write_h5(buffer, datasets)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.5.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", buffer.getvalue())
    return path
