"""The build backend of graphtools: setuptools' own, with one addition to editable installs.

``pip install -e .`` with setuptools installs a flat-layout project through an import hook that
Python consults only after every ``sys.path`` entry.  Run from the folder that holds the clone
(a folder named ``graphtools``), that folder is then taken for a namespace package ``graphtools``
and its top-level ``data/`` for ``graphtools.data``: ``from graphtools.data import load_dataset``
fails.  A regular package found on any ``sys.path`` entry wins over a namespace package, so the
editable wheel also carries a ``.pth`` file that puts the repository root on ``sys.path``, as a
normal install puts ``site-packages`` there: ``graphtools`` is then found as the regular package
wherever the user stands (a regular package ``graphtools`` in the current folder still comes
first, as with any install), and setuptools' hook still maps ``graphtools.cli`` to ``cli/``.
The price, as with the editable installs setuptools made before PEP 660: the root's other
folders (``cli``, ``tests``, ...) are importable under their own names too.  Everything else
(wheels, sdists, metadata) is setuptools' unchanged.  tests/test_readme.py installs a fresh copy
this way and imports it from the folder that holds it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # the other PEP 517/660 hooks, unchanged
    build_sdist,
    build_wheel,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

__all__ = ["build_editable", "build_sdist", "build_wheel", "get_requires_for_build_editable",
           "get_requires_for_build_sdist", "get_requires_for_build_wheel", "prepare_metadata_for_build_editable",
           "prepare_metadata_for_build_wheel"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PTH_NAME = "__editable__.graphtools.root.pth"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """setuptools' editable wheel, plus ``PTH_NAME`` holding the repository root."""
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    add_file(os.path.join(wheel_directory, name), PTH_NAME, (ROOT + "\n").encode())
    return name


def add_file(wheel, name, data):
    """Add ``name`` with ``data`` at the top of the wheel ``wheel`` and list it in its RECORD."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    temporary = wheel + ".part"
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        record = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        for info in source.infolist():
            if info.filename != record:
                target.writestr(info, source.read(info))
        target.writestr(name, data)
        lines = source.read(record).decode().splitlines()
        lines.insert(len(lines) - 1 if lines and lines[-1].startswith(record) else len(lines),
                     f"{name},sha256={digest},{len(data)}")
        target.writestr(record, "\n".join(lines) + "\n")
    os.replace(temporary, wheel)
