"""The pure helpers of the docs tooling: tools/site_check.py (what it reads from a
page's final DOM), tools/docs_hooks.py and tools/griffe_sphinx_roles.py.

No browser and no site build: the browser check itself runs in .ci/run.
"""

import doctest
import importlib.util
import json
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


site_check = _load("site_check")


def test_rendered_math_passes_raw_math_fails():
    dom = site_check.parse_dom(
        "<html><body><p>ok <span class='arithmatex'><mjx-container><mjx-math>x</mjx-math></mjx-container></span>"
        " and <code>$HOME is $PATH</code></p>"
        "<pre>$x$</pre><div class='clipboard-copy-txt'>title('$\\beta$')</div>"
        "<p>raw $k_a = 1$ here and \\(\\beta\\) there</p>"
        "<div class='arithmatex'>\\[x^</div>"
        "<span class='arithmatex'><mjx-container><mjx-merror data-mjx-error='Undefined control sequence \\foo'>"
        "<mjx-mtext>\\foo</mjx-mtext></mjx-merror></mjx-container></span>"
        "</body></html>"
    )
    assert dom.math_rendered == 2
    assert dom.raw_math == ["$k_a = 1$", "\\(\\beta\\)"]
    assert dom.arithmatex_unrendered == ["\\[x^"]
    assert dom.tex_errors == ["Undefined control sequence \\foo"]


def test_raw_sphinx_roles_are_found_outside_code():
    dom = site_check.parse_dom(
        "<p>see :func:`bss_eval` and :class:<code>Foo</code></p><pre>:func:`x`</pre><p>a: b `c`</p>"
    )
    assert len(dom.raw_roles) == 1 and ":func:`bss_eval`" in dom.raw_roles[0]


def test_resources_links_audio_and_ids():
    dom = site_check.parse_dom(
        '<html><head><link rel="stylesheet" href="https://fonts.example/x.css">'
        '<script src=""></script><style>a { background: url("//cdn.example/i.png") }</style></head>'
        '<body><h2 id="top">T</h2><a href="https://github.com/x">repo</a><a href="../y/#top">y</a>'
        '<img src="data:image/png;base64,AA"><audio controls><source src="data:audio/wav;base64,UklG"></audio>'
        '<div style="background-image: url(http://127.0.0.1:8000/a.png)"></div></body></html>'
    )
    external = sorted(filter(site_check.is_external, dom.resources))
    assert external == ["//cdn.example/i.png", "https://fonts.example/x.css"]
    assert dom.links == ["https://github.com/x", "../y/#top"]  # links are not requests
    assert dom.empty_src == ["script"]
    assert dom.audio == 1 and dom.images == ["data:image/png;base64,AA"]
    assert dom.ids == {"top"}


def test_expected_audio_counts_players_and_raw_audio_outputs(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["<audio> in prose does not count"]},
            {
                "cell_type": "code",
                "outputs": [
                    {"data": {"text/html": ['<audio controls="controls">', "<source></audio>"], "text/plain": ["x"]}},
                    {"data": {"audio/wav": "UklG"}},
                    {"data": {"text/plain": ["<audio>"]}},
                ],
            },
        ]
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook))
    assert site_check.expected_audio(path) == 2


def test_check_links_finds_missing_pages_and_anchors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text("")
    (tmp_path / "a" / "index.html").write_text("")
    results = {
        "index.html": site_check.PageResult("index.html", dom=site_check.parse_dom(
            '<a href="a/#here">ok</a><a href="a/#gone">bad</a><a href="b/">missing</a>'
            '<a href="/a/">absolute</a><a href="#top" id="top">self</a>'
        )),
        "a/index.html": site_check.PageResult("a/index.html", dom=site_check.parse_dom('<p id="here"></p>')),
    }
    site_check.check_links(tmp_path, results)
    assert results["index.html"].problems == ["link to a missing anchor: a/#gone", "link to a missing file: b/"]
    assert results["a/index.html"].problems == []


def test_docs_hooks_toc_and_mathjax_files():
    pytest.importorskip("mkdocs")
    hooks = _load("docs_hooks")
    assert doctest.testmod(hooks).failed == 0
    parser = hooks._Headings()
    parser.feed(
        '<h1 id="t">Title<a class="anchor-link" href="#t">¶</a></h1>'
        '<h2 id="9-the-tfdata-pipelines">9. The <code>tf.data</code> pipelines'
        '<a class="anchor-link" href="#9-the-tfdata-pipelines">¶</a></h2>'
    )
    assert parser.headings == [(1, "t", "Title"), (2, "9-the-tfdata-pipelines", "9. The tf.data pipelines")]
    if importlib.util.find_spec("mathjax") is not None:
        files = dict(hooks.mathjax_files(hooks.mathjax_root()))
        assert "javascripts/mathjax/tex-mml-chtml.js" in files
        assert any(name.endswith(".woff") for name in files)


def test_sphinx_roles_rewrite():
    pytest.importorskip("griffe")
    roles = _load("griffe_sphinx_roles")
    assert doctest.testmod(roles).failed == 0
    text = "See :func:`~a.b.f` and :class:`keras.Model`."
    found = [m["body"] for m in roles.ROLE_RE.finditer(text)]
    assert found == ["~a.b.f", "keras.Model"]
    assert roles.render_role("f", "a.b.f") == '<autoref identifier="a.b.f" optional><code>f</code></autoref>'
    assert roles.render_role("x<y", None) == "<code>x&lt;y</code>"


def test_sphinx_roles_resolve_like_python(tmp_path):
    griffe = pytest.importorskip("griffe")
    roles = _load("griffe_sphinx_roles")
    package = tmp_path / "pkgx"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""Top: :class:`~pkgx.sub.mod.Model` and :mod:`pkgx.sub`."""\n')
    (package / "sub" / "__init__.py").write_text('"""Sub."""\n')
    (package / "sub" / "mod.py").write_text(
        '"""Mod: :func:`helper`, :class:`Model`, :func:`unique_elsewhere`, :class:`keras.Model`."""\n'
        "from pkgx.sub.other import unique_elsewhere\n\n"
        "def helper():\n"
        '    """Helper."""\n\n'
        "class Model:\n"
        '    """Model: :meth:`call`, :func:`helper`, :class:`the other <pkgx.sub.other.Other>`."""\n\n'
        "    def call(self):\n"
        '        """Call."""\n'
    )
    (package / "sub" / "other.py").write_text(
        '"""Other."""\n\ndef unique_elsewhere():\n    """U."""\n\nclass Other:\n    """O: :func:`helper`."""\n'
    )
    loaded = griffe.load("pkgx", search_paths=[str(tmp_path)], extensions=griffe.load_extensions(roles.SphinxRoles))

    def ref(identifier, title):
        return roles.render_role(title, identifier)

    assert loaded.docstring.value == f"Top: {ref('pkgx.sub.mod.Model', 'Model')} and {ref('pkgx.sub', 'pkgx.sub')}."
    mod = loaded["sub.mod"]
    assert mod.docstring.value == (
        f"Mod: {ref('pkgx.sub.mod.helper', 'helper')}, {ref('pkgx.sub.mod.Model', 'Model')}, "
        f"{ref('pkgx.sub.other.unique_elsewhere', 'unique_elsewhere')}, <code>keras.Model</code>."
    )
    assert mod["Model"].docstring.value == (
        f"Model: {ref('pkgx.sub.mod.Model.call', 'call')}, {ref('pkgx.sub.mod.helper', 'helper')}, "
        f"{ref('pkgx.sub.other.Other', 'the other')}."
    )
    # the only `helper` of the package, although `other` does not import it
    assert loaded["sub.other.Other"].docstring.value == f"O: {ref('pkgx.sub.mod.helper', 'helper')}."


def test_docs_hooks_point_notebook_links_at_the_notebooks_pages():
    pytest.importorskip("mkdocs")
    from types import SimpleNamespace

    hooks = _load("docs_hooks")
    pages = {"tutorials/04_localization.ipynb": SimpleNamespace(url="tutorials/04_localization/")}
    files = SimpleNamespace(get_file_from_path=pages.get)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="tutorials/solutions/04_localization_solutions.ipynb"),
                           url="tutorials/solutions/04_localization_solutions/")
    html = ('<a href="../04_localization.ipynb">tutorial</a> <a href="../04_localization.ipynb#2-scores">section</a> '
            '<a href="../99_missing.ipynb">missing</a> <a href="https://example.org/x.ipynb">web</a>')
    assert hooks.notebook_links(html, page, files) == (
        '<a href="../../04_localization/">tutorial</a> <a href="../../04_localization/#2-scores">section</a> '
        '<a href="../99_missing.ipynb">missing</a> <a href="https://example.org/x.ipynb">web</a>'
    )
