"""A restricted unpickler for data pickles that hold only plain containers and numpy arrays.

Used for the CIFAR-10 "python version" batches.  A pickle can name any Python
callable and have it called while loading (``os.system`` included), so this
unpickler resolves only the few globals a numpy array needs and refuses every
other one *before* anything is called:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``
  (how ``ndarray.__reduce__`` rebuilds an array), ``numpy.ndarray``, ``numpy.dtype``;
* ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``
  (protocol 5 arrays);
* ``_codecs.encode`` restricted to latin-1 text (how protocol 2 stores ``bytes``
  under Python 3).

Dicts, lists, tuples, strings, bytes, ints and floats are built by pickle
opcodes and need no globals.  Arrays of Python objects are refused as well.
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


def _checked_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy.ndarray may be reconstructed")
    return _reconstruct(subtype, shape, dtype)


def _checked_dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise pickle.UnpicklingError("arrays of Python objects are not allowed")
    return dtype


ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` knows only :data:`ALLOWED`."""

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_load(path: str, data: bytes):
    """Unpickle ``data`` (the bytes of the file ``path``) allowing only numpy arrays and plain values.

    Python 2 ``str`` objects come back as ``bytes`` (``encoding="bytes"``), as the
    CIFAR-10 batches need.  Anything else raises a one-line GraphtoolsError.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise GraphtoolsError(
            f"{path}: refused to unpickle: the pickle calls {exc}, which is not a numpy array constructor "
            "(graphtools loads only plain data from pickles)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, UnicodeError) as exc:
        raise GraphtoolsError(f"{path}: corrupt or unsupported pickle ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:  # pragma: no cover - refused by _checked_dtype
        raise GraphtoolsError(f"{path}: holds an array of Python objects")
    return obj
