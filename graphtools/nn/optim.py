"""Optimisers over a dict of parameters, with masks kept exact, and gradient clipping.

Adam (Kingma & Ba, 2015; PyTorch's defaults ``betas=(0.9, 0.999)``, ``eps=1e-8``)
and SGD with momentum (PyTorch's form: ``v = mu v + g``, ``p -= lr v``).  A
masked weight has its gradient, its optimiser state and the weight itself
zeroed where the mask is False, so pruned weights stay exactly 0.
"""

from __future__ import annotations

import numpy as np


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float | None) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``; return the
    norm before clipping (as ``torch.nn.utils.clip_grad_norm_``).

    Parameters
    ----------
    grads : dict of str to ndarray
        Gradients, scaled in place by ``max_norm / (norm + 1e-6)`` when ``norm > max_norm``.
    max_norm : float or None
        The largest global norm kept; None: no clipping (the norm is still returned).

    Returns
    -------
    float
        ``sqrt(sum of every squared gradient entry)`` before clipping.

    Examples
    --------
    >>> import numpy as np
    >>> grads = {"w": np.array([3.0, 4.0])}
    >>> clip_grad_norm(grads, 1.0), np.round(grads["w"], 6).tolist()
    (5.0, [0.6, 0.8])
    """
    total = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
    if max_norm is not None and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g *= scale
    return total


class Adam:
    """Adam (Kingma and Ba, 2015) over a dict of parameters, updated in place; pruned entries
    (``masks``, 1 kept, 0 pruned) stay exactly zero, and so do their moment estimates.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> opt = Adam(params, lr=0.1, masks={"w": np.array([1.0, 0.0])})
    >>> opt.step({"w": np.array([0.5, 0.5])})
    >>> np.round(params["w"], 6).tolist()  # the first step moves by lr against the sign; the pruned entry is 0
    [0.9, 0.0]
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 masks: dict[str, np.ndarray] | None = None):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.masks = masks or {}
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.scratch = {k: np.empty_like(v) for k, v in params.items()}  # no allocation per step
        self.t = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
        ``p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``, all in place."""
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for name, p in self.params.items():
            g, m, v, tmp = grads[name], self.m[name], self.v[name], self.scratch[name]
            m *= b1
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.divide(v, c2, out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= self.lr / c1
            p -= tmp
            mask = self.masks.get(name)
            if mask is not None:
                p *= mask
                m *= mask
                v *= mask


class SGD:
    """SGD with momentum (PyTorch's form: ``v = momentum v + g``, ``p -= lr v``), in place;
    pruned entries (``masks``) stay exactly zero.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0])}
    >>> opt = SGD(params, lr=0.1, momentum=0.5)
    >>> opt.step({"w": np.array([1.0])}); opt.step({"w": np.array([1.0])})
    >>> round(float(params["w"][0]), 6)  # 1 - 0.1 * 1 - 0.1 * 1.5
    0.75
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-2, momentum: float = 0.9,
                 masks: dict[str, np.ndarray] | None = None):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.masks = masks or {}
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            v = self.velocity[name]
            v *= self.momentum
            v += grads[name]
            p -= self.lr * v
            mask = self.masks.get(name)
            if mask is not None:
                p *= mask
                v *= mask


OPTIMIZERS = {"adam": Adam, "sgd": SGD}
