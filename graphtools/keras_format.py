"""Read Keras weight files: ``.h5`` (Keras 2 and 3) and ``.keras`` (Keras 3 zip).

Needs ``h5py`` (optional extra ``graphtools[keras]``), imported only when such
a file is read.  No Keras or TensorFlow is needed and no code is run: the
HDF5 datasets are read as arrays, named by their path in the file.

* Keras 2 (``model.save`` / ``save_weights``): ``[model_weights/]{layer}/{layer}/kernel:0``,
  ``recurrent_kernel:0``, ``bias:0``; nested models and ``Bidirectional``
  wrappers (``forward_*`` / ``backward_*``) are further path components.
* Keras 3 (``.weights.h5``, or the ``model.weights.h5`` inside a ``.keras``
  zip): ``layers/{layer}[/cell]/vars/0, 1, 2``, which
  :func:`graphtools.layouts.canonical_tensors` names ``kernel``,
  ``recurrent_kernel``, ``bias``; ``Bidirectional`` keeps
  ``forward_layer`` / ``backward_layer``.
* Optimizer state (``optimizer_weights`` in Keras 2, ``optimizer`` in Keras 3)
  is not model weight and is not read.

Each dataset's size is checked against the bytes it occupies in the file
(compressed data may expand at most 1032:1) before it is read; external,
virtual and unallocated datasets are refused.
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from graphtools.errors import GraphtoolsError

#: Top-level groups that hold optimizer state, not weights.
OPTIMIZER_GROUPS = ("optimizer_weights", "optimizer")
_MAX_RATIO = 1032
KERAS_ZIP_MEMBER = "model.weights.h5"


def _import_h5py():
    try:
        import h5py
    except ImportError:
        raise GraphtoolsError("reading Keras .h5/.keras files needs h5py: pip install 'graphtools[keras]'") from None
    return h5py


def _h5_source(path: str):
    """A path or an in-memory file for h5py: the ``model.weights.h5`` member of a ``.keras`` zip."""
    if not zipfile.is_zipfile(path):
        return path
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(KERAS_ZIP_MEMBER)
            except KeyError:
                raise GraphtoolsError(f"{path}: a .keras archive without {KERAS_ZIP_MEMBER}") from None
            if info.file_size > _MAX_RATIO * info.compress_size + 1024:
                raise GraphtoolsError(f"{path}: {KERAS_ZIP_MEMBER} claims {info.file_size} bytes, more than its "
                                      f"{info.compress_size} compressed bytes can hold")
            return io.BytesIO(archive.read(info))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise GraphtoolsError(f"{path}: corrupt .keras archive ({exc})") from None


def _dataset(path: str, name: str, ds) -> np.ndarray:
    if ds.is_virtual or ds.external:
        raise GraphtoolsError(f"{path}: dataset {name!r} keeps its data outside the file; not followed")
    dtype = ds.dtype
    if dtype.kind not in "biuf":
        raise GraphtoolsError(f"{path}: dataset {name!r} has non-numeric type {dtype}")
    nbytes = int(np.prod(ds.shape, dtype=object)) * dtype.itemsize if ds.shape is not None else 0
    stored = ds.id.get_storage_size()
    if nbytes > _MAX_RATIO * stored + 1024:
        raise GraphtoolsError(f"{path}: dataset {name!r} claims {nbytes} bytes but occupies {stored} in the file")
    arr = np.empty(ds.shape, dtype=dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype)
    if arr.size:
        ds.read_direct(arr)
    return arr


def load_keras(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a Keras ``.h5`` / ``.keras`` file, each dataset under its HDF5 path
    (``model_weights/`` dropped; optimizer groups left out).

    Raises GraphtoolsError (one line) for a missing ``h5py`` or a corrupt file.

    Example
    -------
    >>> import os, tempfile, numpy as np, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "w.h5")
    >>> with h5py.File(path, "w") as f:
    ...     f["lstm/lstm/kernel:0"] = np.ones((3, 8), np.float32)
    ...     f["lstm/lstm/recurrent_kernel:0"] = np.ones((2, 8), np.float32)
    >>> list(load_keras(path)[0])
    ['lstm/lstm/kernel:0', 'lstm/lstm/recurrent_kernel:0']
    """
    h5py = _import_h5py()
    source = _h5_source(path)
    tensors: dict[str, np.ndarray] = {}
    try:
        with h5py.File(source, "r") as handle:
            names: list[str] = []

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in OPTIMIZER_GROUPS:
                    names.append(name)

            handle.visititems(visit)
            for name in names:
                key = name.removeprefix("model_weights/")
                tensors[key] = _dataset(path, name, handle[name])
    except GraphtoolsError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise GraphtoolsError(f"{path}: corrupt or unreadable HDF5 file ({exc})") from None
    return tensors, {}
