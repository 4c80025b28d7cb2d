"""The Examples sections of the public API run as doctests: prune, the data loaders, nn (and its worker processes), text, jsonvalues, validate, threads, forked."""

from __future__ import annotations

import doctest
import importlib
import tempfile

import pytest

#: Modules whose docstrings carry runnable Examples (numpydoc), and the least number of examples each has.
MODULES = {
    "graphtools.text": 3,
    "graphtools.jsonvalues": 1,
    "graphtools.validate": 6,
    "graphtools.prune.common": 5,
    "graphtools.prune.methods": 12,
    "graphtools.prune.selection": 6,
    "graphtools.prune.state": 4,
    "graphtools.prune.files": 6,
    "graphtools.prune.table": 3,
    "graphtools.data.load": 4,
    "graphtools.data.dataset": 2,
    "graphtools.data.mnist": 4,
    "graphtools.data.cifar": 5,
    "graphtools.data.speech": 6,
    "graphtools.data.idx": 3,
    "graphtools.nn.optim": 3,
    "graphtools.nn.cells": 2,
    "graphtools.nn.classifier": 1,
    "graphtools.nn.training": 1,
    "graphtools.nn.run": 2,
    "graphtools.nn.replicas": 3,
    "graphtools.threads": 14,
    "graphtools.forked": 4,
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples write their files here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted >= MODULES[name], f"{name}: fewer examples than expected ({result.attempted})"
