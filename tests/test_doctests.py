"""Documentation that must stay true: the modules' ``Examples:`` run as doctests, and the README's module table."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import avcourse

PACKAGES = ("layers", "losses", "metrics", "models")
MODULES = ("notebook", "testing")


def _modules():
    names = [f"avcourse.{name}" for name in MODULES]
    for package in PACKAGES:
        names.append(f"avcourse.{package}")
        path = importlib.import_module(f"avcourse.{package}").__path__
        names += [f"avcourse.{package}.{info.name}" for info in pkgutil.iter_modules(path)]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=dict(vars(module))):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of {name} failed (output above)"


def test_every_listed_package_is_a_module_of_avcourse():
    assert all(getattr(avcourse, package).__name__ == f"avcourse.{package}" for package in PACKAGES + MODULES)


def _readme_rows():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = lines.index("| module | what it holds |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        modules, holds = line.strip("|").split(" | ", 1)
        rows.append((re.findall(r"`([^`]+)`", modules), re.findall(r"`([^`]+)`", holds)))
    return rows


def _expand(name):
    """``avcourse.data.{music,flickr}`` → ``["avcourse.data.music", "avcourse.data.flickr"]``."""
    match = re.fullmatch(r"(.*)\{(.*)\}", name)
    return [match.group(1) + part for part in match.group(2).split(",")] if match else [name]


def _found(token, modules):
    """Whether ``token`` (``name`` or ``name()``) is in one of ``modules``, or (``sub.name``) a path below ``avcourse``."""
    parts = token.removesuffix("()").split(".")
    for value in modules if len(parts) == 1 else [avcourse]:
        for index, part in enumerate(parts):
            child = getattr(value, part, None)
            if child is None:
                try:
                    child = importlib.import_module(f"{value.__name__}.{part}")
                except (ImportError, AttributeError):
                    break
            value = child
        else:
            return True
    return False


# Words the README quotes that are not avcourse names.
NOT_OURS = {"tf.data", "fit", "Loss", "avcourse prepare", "avcourse train", "avcourse evaluate"}


@pytest.mark.parametrize("names, tokens", _readme_rows(), ids=lambda value: str(value[0]) if value else "")
def test_readme_module_table_is_true(names, tokens):
    """Every module of a README row is an attribute of ``avcourse``; every name it quotes is where it says."""
    modules = []
    for name in (full for name in names for full in _expand(name)):
        modules.append(importlib.import_module(name))
        top = name.split(".")[1]
        assert getattr(avcourse, top).__name__ == f"avcourse.{top}"
    for token in tokens:
        if token not in NOT_OURS and re.fullmatch(r"[A-Za-z_][\w.]*(\(\))?", token) and not token.startswith("avcourse"):
            assert _found(token, modules), f"README: {token!r} is not in {names}"
