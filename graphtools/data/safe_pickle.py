"""A restricted unpickler for data pickles that hold only plain containers and numpy arrays.

Used for the CIFAR-10 "python version" batches.  A pickle can name any Python
callable and have it called while loading (``os.system`` included), so this
unpickler resolves only the few globals a numpy array needs and refuses every
other one *before* anything is called:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``
  (how ``ndarray.__reduce__`` rebuilds an array), called only as
  ``_reconstruct(numpy.ndarray, (0,), ...)``: it makes an empty array whose
  shape, dtype and bytes then come from the pickle, and numpy refuses the
  state unless the bytes present are exactly what the shape declares;
  ``numpy.ndarray`` resolves to a token that ``_reconstruct`` accepts but
  that cannot be called (calling the real class would allocate any shape
  without data);
* ``numpy.dtype``, restricted to the dtypes the caller admits;
* ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``
  (protocol 5 arrays);
* ``_codecs.encode`` restricted to latin-1 text (how protocol 2 stores ``bytes``
  under Python 3).

Dicts, lists, tuples, strings, bytes, ints and floats are built by pickle
opcodes and need no globals.  Arrays of Python objects are refused, and
:func:`safe_load` checks every array of the result against the admitted
dtypes once more.
"""

from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

from graphtools.errors import GraphtoolsError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError("_codecs.encode is allowed only for latin-1 text")
    return text.encode("latin-1")


class _NdarrayToken:
    """What ``numpy.ndarray`` resolves to: accepted as ``_reconstruct``'s first argument, not callable."""

    def __repr__(self):
        return "numpy.ndarray"

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError("calling numpy.ndarray is not allowed (it allocates a shape without its data)")


_NDARRAY = _NdarrayToken()
#: Every numeric dtype (no objects, strings, structured records): the default admission.
NUMERIC_KINDS = frozenset("biuf")


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` knows only the module docstring's globals.

    ``dtypes``: the numpy dtypes arrays may have (None: any of :data:`NUMERIC_KINDS`).
    """

    def __init__(self, file, *, dtypes=None, **kwargs):
        super().__init__(file, **kwargs)
        self.dtypes = None if dtypes is None else frozenset(np.dtype(d) for d in dtypes)

    def admits(self, dtype: np.dtype) -> bool:
        if self.dtypes is not None:
            return dtype in self.dtypes
        return dtype.kind in NUMERIC_KINDS and dtype.fields is None

    def _dtype(self, *args, **kwargs):
        dtype = np.dtype(*args, **kwargs)
        if dtype.hasobject:
            raise pickle.UnpicklingError("arrays of Python objects are not allowed")
        if not self.admits(dtype):
            raise pickle.UnpicklingError(f"arrays of dtype {dtype} are not allowed")
        return dtype

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not _NDARRAY or shape != (0,):
            raise pickle.UnpicklingError("only an empty plain numpy.ndarray may be reconstructed")
        return _reconstruct(np.ndarray, (0,), dtype)

    def _frombuffer(self, buf, dtype, shape, order):
        if not isinstance(dtype, np.dtype) or not self.admits(dtype):
            raise pickle.UnpicklingError(f"arrays of dtype {dtype} are not allowed")
        return _frombuffer(buf, dtype, shape, order)

    def find_class(self, module, name):
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) == ("numpy", "dtype"):
            return self._dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return self._reconstruct
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return self._frombuffer
        raise _RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _arrays(obj, depth: int = 0):
    """Every numpy array inside plain containers ``obj`` (dicts, lists, tuples), to a bounded depth."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif depth < 20 and isinstance(obj, dict):
        for value in obj.values():
            yield from _arrays(value, depth + 1)
    elif depth < 20 and isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _arrays(value, depth + 1)


def safe_load(path: str, data: bytes, *, dtypes=None):
    """Unpickle ``data`` (the bytes of the file ``path``) allowing only numpy arrays and plain values.

    Python 2 ``str`` objects come back as ``bytes`` (``encoding="bytes"``), as the
    CIFAR-10 batches need.  ``dtypes`` restricts the arrays' dtypes (default: any
    plain numeric dtype).  Anything else raises a one-line GraphtoolsError.

    Example
    -------
    >>> import pickle
    >>> safe_load("x.pkl", pickle.dumps({"a": np.arange(3, dtype=np.int64)}), dtypes=["int64"])["a"].tolist()
    [0, 1, 2]
    """
    unpickler = RestrictedUnpickler(io.BytesIO(data), dtypes=dtypes, encoding="bytes")
    try:
        obj = unpickler.load()
    except _RefusedGlobal as exc:
        raise GraphtoolsError(
            f"{path}: refused to unpickle: the pickle calls {exc}, which is not a numpy array constructor "
            "(graphtools loads only plain data from pickles)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, UnicodeError, RecursionError) as exc:
        raise GraphtoolsError(f"{path}: corrupt or unsupported pickle ({type(exc).__name__}: {exc})") from None
    for arr in _arrays(obj):
        if not unpickler.admits(arr.dtype):
            raise GraphtoolsError(f"{path}: holds an array of dtype {arr.dtype}, which is not allowed here")
    return obj
