"""MkDocs hooks of the avcourse site (``hooks:`` in ``mkdocs.yml``).

1. MathJax, vendored. The site loads no script, style sheet or font from another
   host: MathJax 3 comes from the ``django-static-mathjax`` wheel (the ``docs``
   extra), and its browser build (the ``tex-mml-chtml`` component, the TeX
   extensions it autoloads, its CHTML fonts, the menu and the accessibility
   components) is added to the site under ``javascripts/mathjax/`` at build time.
   ``docs/javascripts/mathjax-config.js`` configures it.

2. Notebook pages (mkdocs-jupyter):

   - nbconvert's page head loads MathJax 2 from an empty URL
     (``<script src="">``, a request for the page itself) and, when a page has
     Mermaid diagrams, Mermaid from a CDN; both are removed (the site's MathJax 3
     typesets the notebooks' ``$…$`` and ``$$…$$``; no notebook has Mermaid).
   - mkdocs-jupyter builds a notebook's table of contents from a Markdown
     rendering in which inline code is dropped from the headings, so a heading
     such as "The ``tf.data`` pipelines" got the anchor ``the-pipelines`` while
     the page has ``the-tfdata-pipelines``. The table of contents is rebuilt from
     the headings of the rendered page.
   - The page's anchors are registered, so that ``validation: anchors`` checks
     links from Markdown pages into the notebooks too.
   - Links between notebooks (``../04_localization.ipynb``, right in Jupyter
     Lab) point at the linked notebook's page, as Markdown pages' links do;
     mkdocs-jupyter leaves them as they are, a file the site does not have.
"""

from __future__ import annotations

import importlib.util
import logging
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.toc import get_toc
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.avcourse")

#: Where the vendored MathJax lands in the site (``extra_javascript`` names it).
MATHJAX_DEST = "javascripts/mathjax"
#: The parts of MathJax's ``es5`` build that the site needs.
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "a11y", "sre", "ui")


def mathjax_root() -> Path:
    """The ``es5`` folder of the MathJax installed by django-static-mathjax."""
    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            root = Path(location) / "static" / "mathjax" / "es5"
            if (root / "tex-mml-chtml.js").is_file():
                return root
    raise PluginError(
        "MathJax not found: the site vendors it from the django-static-mathjax package; "
        "install the docs extra: pip install -e '.[docs]'"
    )


def mathjax_files(root: Path) -> list[tuple[str, Path]]:
    """(site path, source file) of every MathJax file the site ships."""
    files = [(f"{MATHJAX_DEST}/LICENSE", root.parent / "LICENSE")]
    for part in MATHJAX_PARTS:
        path = root / part
        sources = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [(f"{MATHJAX_DEST}/{p.relative_to(root).as_posix()}", p) for p in sources]
    return files


def on_files(files: Files, config) -> Files:
    for dest, source in mathjax_files(mathjax_root()):
        files.append(File.generated(config, dest, abs_src_path=str(source)))
    return files


# --------------------------------------------------------------------------- notebooks

_NB_MATHJAX_RE = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
_NB_MERMAID_RE = re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*</script>', re.DOTALL)


class _Headings(HTMLParser):
    """The ``(level, id, text)`` of each ``<h1>``…``<h6>`` with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str, str]] = []
        self.ids: set[str] = set()
        self._open: tuple[int, str, list[str]] | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if attrs.get("name") and tag == "a":
            self.ids.add(attrs["name"])
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
            self._open = (int(tag[1]), attrs["id"], [])
        elif self._open is not None and tag == "a" and "anchor-link" in (attrs.get("class") or ""):
            self._skip += 1

    def handle_endtag(self, tag):
        if self._skip and tag == "a":
            self._skip -= 1
        elif self._open is not None and tag == f"h{self._open[0]}":
            level, anchor, text = self._open
            self.headings.append((level, anchor, " ".join("".join(text).split())))
            self._open = None

    def handle_data(self, data):
        if self._open is not None and not self._skip:
            self._open[2].append(data)


def toc_tokens(headings: list[tuple[int, str, str]]) -> list[dict]:
    """Nest headings as Python-Markdown's toc tokens (what ``get_toc`` reads).

    >>> [t["id"] for t in toc_tokens([(1, "a", "A"), (2, "b", "B"), (3, "c", "C"), (2, "d", "D")])]
    ['a']
    >>> [c["id"] for c in toc_tokens([(1, "a", "A"), (2, "b", "B"), (2, "d", "D")])[0]["children"]]
    ['b', 'd']
    """
    import html

    root: list[dict] = []
    stack: list[dict] = []
    for level, anchor, text in headings:
        token = {"level": level, "id": anchor, "name": html.escape(text), "children": []}
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


_NOTEBOOK_LINK_RE = re.compile(r'href="(?![a-z]+:|/|#)([^"#]+\.ipynb)(#[^"]*)?"')


def notebook_links(html: str, page, files) -> str:
    """Relative links to ``.ipynb`` files of the site rewritten to the notebooks' pages (others left as they are)."""

    def page_link(match):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), match.group(1)))
        linked = files.get_file_from_path(target)
        if linked is None:
            return match.group(0)
        return f'href="{get_relative_url(linked.url, page.url)}{match.group(2) or ""}"'

    return _NOTEBOOK_LINK_RE.sub(page_link, html)


def on_page_content(html: str, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    html = notebook_links(html, page, files)
    html = _NB_MATHJAX_RE.sub("", html)
    html = _NB_MERMAID_RE.sub("", html)
    parser = _Headings()
    parser.feed(html)
    depth = next(
        (p.config.get("toc_depth", 6) for name, p in config.plugins.items() if name.endswith("jupyter")), 6
    )
    page.toc = get_toc(toc_tokens([h for h in parser.headings if h[0] <= depth]))
    page.present_anchor_ids = parser.ids
    return html
