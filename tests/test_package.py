"""The top-level package: every public module is an attribute of ``avcourse``, and importing it is cheap."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import avcourse


def _public_modules():
    return sorted(info.name for info in pkgutil.iter_modules(avcourse.__path__) if not info.name.startswith("_"))


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_is_an_attribute(name):
    assert getattr(avcourse, name) is importlib.import_module(f"avcourse.{name}")
    assert name in dir(avcourse)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        avcourse.nope  # noqa: B018


def test_import_does_not_start_tensorflow():
    code = "import sys, avcourse; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
