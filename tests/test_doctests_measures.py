"""The Examples in the docstrings of the measuring modules run and give what they show."""

import doctest
import importlib

import pytest

MODULES = ["graphtools.spectral", "graphtools.cover", "graphtools.expansion", "graphtools.analysis",
           "graphtools.structure"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
