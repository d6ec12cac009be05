"""Griffe extension for the API pages: Sphinx roles become cross-references.

The docstrings of ``avcourse`` are written for both ``help()`` and the site, and
they name other objects with Sphinx roles (``:func:`bss_eval```,
``:class:`~avcourse.models.CAVLModel```). Markdown has no such syntax, so
mkdocstrings would print them raw. This extension, loaded by mkdocstrings-python
(``extensions:`` in ``mkdocs.yml``), rewrites every role of every docstring of
the package once it is loaded:

- the target is looked up as Python would from the docstring's scope (the
  object itself, its parents, what their modules import), then as an absolute
  path, then as the only object of the package with that name;
- a target found becomes an optional autorefs cross-reference
  (``<autoref identifier="canonical.path" optional>``): a link where the site
  documents the object, plain code where it does not (a private helper);
- a target not found (another package: ``keras.Model``) becomes plain code.

The docstrings in ``src/`` are not changed; only griffe's copy is.
"""

from __future__ import annotations

import html
import logging
import re
from collections import defaultdict
from typing import Any

import griffe

_log = logging.getLogger("mkdocs.plugins.griffe_sphinx_roles")

#: ``:func:`x```, ``:py:class:`~a.b.C```, ``:meth:`title <a.b.C.m>```.
ROLE_RE = re.compile(
    r"(?<![`\w]):(?:py:)?(?P<role>func|class|meth|attr|mod|data|obj|exc|const|type|attribute|method|function)"
    r":`(?P<body>[^`]+)`"
)
_EXPLICIT_RE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)


def split_role(body: str) -> tuple[str, str]:
    """The displayed text and the target of a role's body, as Sphinx reads them.

    ``~a.b.C`` shows ``C``; ``title <a.b.C>`` shows ``title``; a leading ``.``
    (Sphinx's "search from here") is dropped from the target.

    >>> split_role("~avcourse.models.CAVLModel")
    ('CAVLModel', 'avcourse.models.CAVLModel')
    >>> split_role("the model <avcourse.models.CAVLModel>")
    ('the model', 'avcourse.models.CAVLModel')
    >>> split_role("bss_eval")
    ('bss_eval', 'bss_eval')
    """
    body = " ".join(body.split())
    explicit = _EXPLICIT_RE.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
        return title, target.lstrip("~.")
    target = body.lstrip("!")
    if target.startswith("~"):
        target = target[1:].lstrip(".")
        return target.rsplit(".", 1)[-1], target
    return target, target.lstrip(".")


def render_role(title: str, identifier: str | None) -> str:
    """The HTML that replaces one role: an optional cross-reference or code."""
    code = f"<code>{html.escape(title, quote=False)}</code>"
    if identifier is None:
        return code
    return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'


def _final(obj: Any) -> Any | None:
    try:
        return obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _get(scope: Any, dotted: str) -> Any | None:
    """``scope``'s member at the dotted path, through imports, or None."""
    obj = scope
    for part in dotted.split("."):
        obj = _final(obj)
        if obj is None:
            return None
        try:
            obj = obj.members[part]
        except (KeyError, AttributeError):
            return None
    return _final(obj)


class SphinxRoles(griffe.Extension):
    """Rewrites Sphinx roles in the docstrings of each loaded package."""

    def __init__(self) -> None:
        super().__init__()
        self.linked = 0
        self.unresolved: list[str] = []

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        objects = list(_walk(pkg))
        by_name: dict[str, list[Any]] = defaultdict(list)
        for obj in objects:
            by_name[obj.name].append(obj)
        for obj in objects:
            docstring = obj.docstring
            if docstring is None or ":" not in docstring.value:
                continue
            docstring.value = ROLE_RE.sub(
                lambda match, obj=obj: self._replace(match, obj, loader, by_name), docstring.value
            )
        if self.unresolved:
            _log.info(
                "%s: %d Sphinx roles left as code (no such object in the package): %s",
                pkg.name,
                len(self.unresolved),
                ", ".join(sorted(set(self.unresolved))),
            )

    def _replace(self, match: re.Match, obj: Any, loader: griffe.GriffeLoader, by_name: dict) -> str:
        title, target = split_role(match["body"])
        found = self._resolve(target, obj, loader, by_name)
        if found is None:
            self.unresolved.append(target)
            return render_role(title, None)
        self.linked += 1
        return render_role(title, found.path)

    @staticmethod
    def _resolve(target: str, obj: Any, loader: griffe.GriffeLoader, by_name: dict) -> Any | None:
        # 1. As Python would from the docstring's scope: the object itself
        #    (a class's :meth:`call`), then each parent up to the package.
        scope = obj
        while scope is not None:
            found = _get(scope, target)
            if found is not None:
                return found
            scope = scope.parent
        # 2. An absolute path to a loaded package.
        head, _, rest = target.partition(".")
        try:
            root = loader.modules_collection[head]
        except KeyError:
            root = None
        if root is not None:
            found = _get(root, rest) if rest else root
            if found is not None:
                return found
        # 3. The only object of the package with that name.
        candidates = {id(o): o for o in by_name.get(target.rsplit(".", 1)[-1], [])}
        if len(candidates) == 1:
            (found,) = candidates.values()
            if found.path.endswith(target):
                return found
        return None


def _walk(obj: Any):
    """Every object (not alias) defined in ``obj``, ``obj`` included."""
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)
