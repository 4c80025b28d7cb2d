"""A stacked RNN/LSTM/GRU with a linear head on the top layer's last hidden state.

Parameters live in one dict under PyTorch's names (``rnn.weight_ih_l0``, ...,
``fc.weight``, ``fc.bias``), so a checkpoint is a PyTorch state dict of
``nn.{RNN,LSTM,GRU}(batch_first=True)`` plus ``nn.Linear`` and graphtools'
analyzer reads it unchanged.  Initialisation follows PyTorch: recurrent
weights and biases uniform in ``+-1/sqrt(H)``, the head uniform in
``+-1/sqrt(fan_in)``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from graphtools.atomic import CHECKPOINT_FORMATS, atomic_open, check_output
from graphtools.errors import GraphtoolsError
from graphtools.io import META_KEY, load_state
from graphtools.model import MASK_SUFFIX, describe
from graphtools.model import GATE_BLOCKS
from graphtools.nn.cells import layer_backward, layer_forward



def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[np.arange(n), labels]))
    grad = exp / total
    grad[np.arange(n), labels] -= 1
    return loss, grad / n


def part_bounds(n: int, parts: int) -> np.ndarray:
    """Where ``parts`` consecutive parts of a batch of ``n`` start and end (``parts + 1`` indices)."""
    return np.linspace(0, n, parts + 1).astype(int)


def combine_parts(results, bounds) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """The mean loss, logits and gradients of a whole batch from those of its consecutive parts
    (``results[r] = (loss, logits, grads)`` of rows ``bounds[r]:bounds[r + 1]``): size-weighted
    means, summed in part order, so the combination is the same wherever the parts were computed.
    The gradients keep the parts' dtype: the weights are Python floats, since a numpy float64
    weight would make float32 gradients float64 (as it did before: 0.48 ms a batch of LSTM-128
    instead of 0.05 ms, and float64 gradients in clipping and Adam)."""
    weights = [float(w) for w in np.diff(bounds) / bounds[-1]]
    loss = float(sum(w * r[0] for w, r in zip(weights, results)))
    grads = {}
    for name in results[0][2]:
        total = results[0][2][name] * weights[0]
        for w, r in zip(weights[1:], results[1:]):
            total += w * r[2][name]
        grads[name] = total
    return loss, np.concatenate([r[1] for r in results]), grads


class SequenceClassifier:
    """``cell`` (``rnn`` | ``lstm`` | ``gru``) layers of ``hidden_size`` units and a linear head.

    ``forward(x)`` takes ``x`` of shape ``(batch, T, features)`` and returns logits.
    ``masks`` (name -> bool array) mark pruned weights, which stay exactly zero.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 num_classes: int = 10, seed: int = 0, dtype=np.float32):
        if cell not in GATE_BLOCKS:
            raise GraphtoolsError(f"cell must be one of rnn, lstm, gru, not {cell!r}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers), ("num_classes", num_classes)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise GraphtoolsError(f"{name} must be a positive whole number, not {value!r}")
        self.cell, self.input_size, self.hidden_size = cell, int(input_size), int(hidden_size)
        self.num_layers, self.num_classes = int(num_layers), int(num_classes)
        self.meta: dict = {}
        self.masks: dict[str, np.ndarray] = {}
        rng = np.random.default_rng(seed)
        G, H = GATE_BLOCKS[cell], self.hidden_size
        k = 1 / np.sqrt(H)
        self.params: dict[str, np.ndarray] = {}
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H
            for name, shape in ((f"weight_ih_l{layer}", (G * H, n_in)), (f"weight_hh_l{layer}", (G * H, H)),
                                (f"bias_ih_l{layer}", (G * H,)), (f"bias_hh_l{layer}", (G * H,))):
                self.params[f"rnn.{name}"] = rng.uniform(-k, k, shape).astype(dtype)
        k = 1 / np.sqrt(H)
        self.params["fc.weight"] = rng.uniform(-k, k, (self.num_classes, H)).astype(dtype)
        self.params["fc.bias"] = rng.uniform(-k, k, self.num_classes).astype(dtype)

    # ------------------------------------------------------------ masks

    def set_masks(self, masks: dict[str, np.ndarray]) -> None:
        """Use ``masks`` (weight name -> bool array of its shape) and zero the pruned weights now."""
        for name, mask in masks.items():
            if name not in self.params:
                raise GraphtoolsError(f"mask {name!r} names no weight of the model "
                                      f"(weights: {', '.join(self.params)})")
            if mask.shape != self.params[name].shape:
                raise GraphtoolsError(f"mask {name!r} has shape {list(mask.shape)}, "
                                      f"the weight has {list(self.params[name].shape)}")
        self.masks = {name: np.asarray(mask, dtype=bool) for name, mask in masks.items()}
        self.apply_masks()

    def apply_masks(self) -> None:
        for name, mask in self.masks.items():
            self.params[name] *= mask

    # ------------------------------------------------------------ computation

    def _workspace(self, layer: int, replica: int = 0) -> dict:
        """Buffers reused by every pass of ``layer`` in worker ``replica`` (see graphtools.nn.cells)."""
        if not hasattr(self, "_buffers"):
            self._buffers: dict = {}
        return self._buffers.setdefault((replica, layer), {})

    def _layers(self):
        for layer in range(self.num_layers):
            p = self.params
            yield (p[f"rnn.weight_ih_l{layer}"], p[f"rnn.weight_hh_l{layer}"],
                   p[f"rnn.bias_ih_l{layer}"], p[f"rnn.bias_hh_l{layer}"])

    def _check_input(self, x, replica: int = 0) -> np.ndarray:
        """``x`` as a time-major ``(T, B, F)`` array in the model's dtype (a reused buffer)."""
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise GraphtoolsError(f"input must have shape (batch, T, {self.input_size}), got {list(x.shape)}")
        ws = self._workspace(0, replica)
        out = ws.get("input")
        shape, dtype = (x.shape[1], x.shape[0], x.shape[2]), self.params["fc.weight"].dtype
        if out is None or out.shape != shape or out.dtype != dtype:
            out = ws["input"] = np.empty(shape, dtype)
        np.copyto(out, x.transpose(1, 0, 2), casting="unsafe")
        return out

    def forward(self, x, return_caches: bool = False, replica: int = 0):
        """Logits ``(batch, num_classes)`` for ``x`` of shape ``(batch, T, features)``."""
        h = self._check_input(x, replica)
        caches = []
        for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(self._layers()):
            h, cache = layer_forward(self.cell, h, W_ih, W_hh, b_ih, b_hh, self._workspace(k, replica))
            caches.append(cache)
        last = h[-1]
        logits = last @ self.params["fc.weight"].T + self.params["fc.bias"]
        return (logits, (caches, last, h.shape)) if return_caches else logits

    def loss_and_grads(self, x, labels, replica: int = 0) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
        """Mean cross-entropy, logits, and the gradient of every parameter (masked)."""
        logits, (caches, last, shape) = self.forward(x, return_caches=True, replica=replica)
        loss, dlogits = cross_entropy(logits, np.asarray(labels))
        grads = {"fc.weight": dlogits.T @ last, "fc.bias": dlogits.sum(axis=0)}
        dhs = dlogits @ self.params["fc.weight"]  # (B, H): only the last step feeds the head
        for layer in range(self.num_layers - 1, -1, -1):
            dhs, g = layer_backward(dhs, caches[layer], need_dx=layer > 0,
                                    workspace=self._workspace(layer, replica))
            for name, value in g.items():
                grads[f"rnn.{name}_l{layer}"] = value
        for name, mask in self.masks.items():
            grads[name] *= mask
        return loss, logits, grads

    def parallel_loss_and_grads(self, x, labels, pool, workers: int):
        """:meth:`loss_and_grads` of the whole batch, computed as ``workers`` consecutive parts, the
        first on this thread and the others on ``pool``'s (numpy releases the GIL in its kernels),
        and combined exactly: the mean loss and its gradients are the size-weighted means of the
        parts'."""
        bounds = part_bounds(len(labels), workers)
        jobs = [(r, slice(a, b)) for r, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
        def work(job):
            return self.loss_and_grads(x[job[1]], labels[job[1]], replica=job[0])

        pending = [pool.submit(work, job) for job in jobs[1:]]
        results = [work(jobs[0])] + [f.result() for f in pending]  # this thread takes the first part
        return combine_parts(results, bounds)

    def parallel_forward(self, x, pool, workers: int) -> np.ndarray:
        """:meth:`forward` on ``workers`` consecutive parts of ``x`` at once."""
        bounds = part_bounds(len(x), workers)
        jobs = [(r, slice(a, b)) for r, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]

        def work(job):
            return self.forward(x[job[1]], replica=job[0])

        pending = [pool.submit(work, job) for job in jobs[1:]]
        return np.concatenate([work(jobs[0])] + [f.result() for f in pending])

    def predict(self, x, batch_size: int = 1024) -> np.ndarray:
        """Class index of each example."""
        x = np.asarray(x)
        return np.concatenate([self.forward(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)]) if len(x) else np.zeros(0, int)

    # ------------------------------------------------------------ checkpoints

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], metadata: dict | None = None, *,
                   source: str = "state") -> "SequenceClassifier":
        """The model held by ``tensors`` -- a state dict as :meth:`state_dict` writes it, or a PyTorch
        one of one unidirectional ``nn.RNN/LSTM/GRU`` (any prefix) plus one ``nn.Linear`` head --
        with its ``<weight>_mask`` arrays as masks and ``metadata[graphtools.meta]`` as
        :attr:`meta`.  ``source`` names the tensors in errors (e.g. a file name).

        Example
        -------
        >>> model = SequenceClassifier("gru", 3, 4, num_classes=2, seed=1)
        >>> copy = SequenceClassifier.from_state(model.state_dict())
        >>> (copy.cell, copy.hidden_size), all((copy.params[k] == v).all() for k, v in model.params.items())
        (('gru', 4), True)
        """
        return _from_state(tensors, metadata, source)


    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters under PyTorch names, plus ``<name>_mask`` for each masked weight."""
        state = {name: value.copy() for name, value in self.params.items()}
        for name, mask in self.masks.items():
            state[name + MASK_SUFFIX] = mask.copy()
        return state

    def save(self, path: str | os.PathLike, **meta) -> None:
        """Write a checkpoint atomically, with ``graphtools.meta`` (cell, sizes, ``meta``): ``.npz``,
        or ``.safetensors`` (the metadata under ``__metadata__``); other extensions are refused."""
        ext = check_output(path, formats=CHECKPOINT_FORMATS)
        info = {"cell": self.cell, "input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "num_classes": self.num_classes, **self.meta, **meta}
        self.meta = {k: v for k, v in info.items()
                     if k not in ("cell", "input_size", "hidden_size", "num_layers", "num_classes")}
        state = self.state_dict()
        if ext == ".safetensors":
            from graphtools.safetensors import write_safetensors

            write_safetensors(path, state, {META_KEY: json.dumps(info)})
            return
        state[META_KEY] = np.array(json.dumps(info))
        with atomic_open(path, "wb") as handle:
            np.savez(handle, **state)


def load_model(path: str | os.PathLike) -> SequenceClassifier:
    """A :class:`SequenceClassifier` from our checkpoint or a PyTorch state dict of one
    unidirectional ``nn.RNN/LSTM/GRU`` (any prefix) plus one ``nn.Linear`` head (.npz or
    .safetensors); :meth:`SequenceClassifier.from_state` of the file's arrays."""
    checkpoint = load_state(path)
    return SequenceClassifier.from_state(checkpoint.tensors, checkpoint.metadata, source=os.fspath(path))


def _from_state(tensors: dict[str, np.ndarray], metadata: dict | None, source: str) -> SequenceClassifier:
    model_info = describe(tensors)
    if len(model_info.modules) != 1:
        raise GraphtoolsError(f"{source}: expected one recurrent module, found {len(model_info.modules)}")
    module = model_info.modules[0]
    if module.bidirectional or module.proj_size or module.naming != "pytorch":
        raise GraphtoolsError(f"{source}: the numpy trainer runs unidirectional PyTorch-named RNN/LSTM/GRU "
                              "without projections only")
    heads = [w for w in model_info.linear if w.matrix.shape[1] == module.hidden_size]
    if len(heads) != 1:
        raise GraphtoolsError(f"{source}: expected one linear head of input size {module.hidden_size}, "
                              f"found {[w.name for w in heads]}")
    head = heads[0]
    bias_name = head.name.rsplit("weight", 1)[0] + "bias"
    model = SequenceClassifier(module.cell, module.input_size, module.hidden_size, module.num_layers,
                               head.matrix.shape[0])
    dtype = model.params["fc.weight"].dtype
    masks = {}
    for layer in module.layers:
        for kind, weight in (("weight_ih", layer.weight_ih), ("weight_hh", layer.weight_hh)):
            name = f"rnn.{kind}_l{layer.layer}"
            model.params[name] = np.asarray(weight.matrix, dtype=dtype).copy()
            source_mask = weight.name + MASK_SUFFIX
            if source_mask in tensors:
                masks[name] = tensors[source_mask] != 0
        for kind, bias in (("bias_ih", layer.bias_ih), ("bias_hh", layer.bias_hh)):
            name = f"rnn.{kind}_l{layer.layer}"
            model.params[name] = (np.zeros_like(model.params[name]) if bias is None
                                  else np.asarray(bias, dtype=dtype).copy())
    model.params["fc.weight"] = np.asarray(head.matrix, dtype=dtype).copy()
    bias = tensors.get(bias_name)
    model.params["fc.bias"] = np.zeros(head.matrix.shape[0], dtype) if bias is None else bias.astype(dtype)
    if head.name + MASK_SUFFIX in tensors:
        masks["fc.weight"] = tensors[head.name + MASK_SUFFIX] != 0
    model.set_masks(masks)
    if metadata and META_KEY in metadata:
        try:
            info = json.loads(metadata[META_KEY])
        except ValueError:
            raise GraphtoolsError(f"{source}: {META_KEY} is not valid JSON") from None
        model.meta = {k: v for k, v in info.items()
                      if k not in ("cell", "input_size", "hidden_size", "num_layers", "num_classes")}
    return model
