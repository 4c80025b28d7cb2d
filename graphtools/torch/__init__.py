"""graphtools for PyTorch users: live modules, ``torch.nn.utils.prune`` methods, a training monitor.

Needs the ``graphtools[torch]`` extra; ``import graphtools`` itself never imports torch.

* :func:`analyze_module` -- the report of ``graphtools analyze`` for an ``nn.Module``;
* :mod:`graphtools.torch.prune` -- ``random_biregular``, ``array_code``, ``ramanujan_guard``
  and ``rewire`` as ``torch.nn.utils.prune`` methods;
* :class:`ExpanderMonitor` -- measure (and enforce) expander rules during training.
"""

from graphtools.errors import GraphtoolsError

try:
    import torch  # noqa: F401  (absolute: the real PyTorch, not this package)
except ImportError:
    raise GraphtoolsError("graphtools.torch needs PyTorch: pip install 'graphtools[torch]'") from None

from graphtools.torch.modules import analyze_module, check_module, describe_module, module_tensors
from graphtools.torch.monitor import ExpanderMonitor, ExpanderRuleBroken

__all__ = ["analyze_module", "check_module", "describe_module", "module_tensors", "ExpanderMonitor",
           "ExpanderRuleBroken"]
