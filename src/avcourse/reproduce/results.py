"""Reproduction results as data: ``results/<name>.json`` and the tables made from it.

``avcourse reproduce <name> --seeds 0 1 2`` runs a reproduction once per seed
and writes ``results/<name>.json``::

    {"command": "avcourse reproduce cavl --size small --seeds 0 1 2",
     "commit": "<git commit of the checkout, or null>",
     "seeds": [0, 1, 2], "size": "small", "seconds_per_seed": [...],
     "tables": {table_name: {"title": "...",
                             "columns": ["method", "cIoU@0.5", "AUC"],
                             "rows": {row_label: {column: cell}}}},
     "commit_per_seed": [...], "recipe": {...}}

``columns[0]`` names the row labels' column (``"method"``); each row maps the
other columns to a cell. A numeric cell is ``{"mean", "sd", "per_seed"}``: the
mean and the sample standard deviation (``ddof=1``) over the seeds whose value
is finite (NaN, infinite or ``None`` seeds are left out and stored as
``null``); ``sd`` is ``null`` with fewer than two finite seeds. A text cell is
``{"value": str}``. Rows and columns keep the order the reproduction gave them.

A reproduction's ``run(size, seed)`` returns its tables either as lists of rows
(header row first, the label first in every row; :func:`from_rows`) or as named
tables built with :func:`table`. :func:`aggregate` turns one such dict per seed
into the document's ``"tables"``; :func:`results_table` turns a stored table
back into rows of ``"mean ± sd"`` strings for notebooks and
:func:`~avcourse.reproduce.tables.markdown_table`.

``docs/results.md`` quotes the files through marker blocks that
:func:`render_markdown_blocks` (``python tools/results_markdown.py``) rewrites::

    <!-- results: cavl/localization columns=cIoU@0.5,AUC rows=whole image,random -->
    (generated table)
    <!-- /results -->

``columns=`` and ``rows=`` are optional comma-separated selections (default:
all, in stored order); a name holding a comma is double-quoted
(``rows="C1-trained, aligned centre",random``).

A sentence of prose that compares stored numbers carries its claim beside it,
checked by :func:`check_claims` (and by ``--check``), so that a fresh run
that reverses it fails the tests instead of leaving the text wrong::

    C1 points at the sounding object far more often than a random object.
    <!-- claim: {cavl/localization/C1 aligned/pointing} > {cavl/localization/random object/pointing} + 0.25 -->
"""

import ast
import operator
import argparse
import csv
import difflib
import json
import math
import numbers
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = [
    "aggregate",
    "as_stored",
    "as_table",
    "check_claims",
    "check_markdown",
    "from_rows",
    "git_commit",
    "load_results",
    "markdown_main",
    "render_markdown_blocks",
    "results_cell",
    "results_document",
    "results_root",
    "results_table",
    "seed_runs",
    "table_rows",
    "table",
    "to_rows",
    "write_results",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../avcourse
_REPO_ROOT = _PACKAGE_DIR.parent.parent  # the checkout when avcourse runs from src/avcourse
_DOCUMENT_KEYS = ("command", "commit", "seeds", "size", "seconds_per_seed", "tables")
_DETECT = object()


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _scalar(value):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- building tables


def table(columns, rows):
    """A named table: ``{"columns": [...], "rows": {label: {column: value}}}``.

    Args:
        columns: the column names; ``columns[0]`` names the row labels' column
            (e.g. ``"method"``), the others the cells.
        rows: mapping from row label to its cells, either a mapping
            ``{column: value}`` with exactly ``columns[1:]`` as keys or a
            sequence of values in the order of ``columns[1:]``. Values are
            numbers, ``None`` (missing, like NaN) or text.

    Returns:
        the table, cells in the order of ``columns``; labels are strings.

    Raises:
        ValueError: on duplicate or missing column names, or a row whose cells
            do not match ``columns[1:]``.

    Examples:
    >>> table(["method", "AUC"], {"random": [0.27]})
    {'columns': ['method', 'AUC'], 'rows': {'random': {'AUC': 0.27}}}
    """
    columns = [str(c) for c in columns] if not isinstance(columns, str) else None
    if not columns:
        raise ValueError("`columns` must be a non-empty list of names, the row labels' column first.")
    if len(set(columns)) != len(columns):
        raise ValueError(f"`columns` must be distinct names; received {columns}.")
    if not hasattr(rows, "items"):
        raise ValueError(f"`rows` must map row labels to cells; received {type(rows).__name__}.")
    cells = columns[1:]
    built = {}
    for label, values in rows.items():
        label = str(label)
        if label in built:
            raise ValueError(f"row label {label!r} appears twice.")
        if hasattr(values, "items"):
            values = {str(k): v for k, v in values.items()}
            if set(values) != set(cells):
                raise ValueError(
                    f"row {label!r} has columns {list(values)}; expected {cells} "
                    f"(missing: {[c for c in cells if c not in values]}, "
                    f"unknown: {[c for c in values if c not in cells]})."
                )
            built[label] = {column: _scalar(values[column]) for column in cells}
        elif isinstance(values, (list, tuple)):
            if len(values) != len(cells):
                raise ValueError(f"row {label!r} has {len(values)} cells; the columns {cells} need {len(cells)}.")
            built[label] = {column: _scalar(value) for column, value in zip(cells, values)}
        else:
            raise ValueError(f"row {label!r} must be a mapping or a list of cells; received {type(values).__name__}.")
    return {"columns": columns, "rows": built}


def from_rows(rows):
    """The named-table form (:func:`table`) of a list of rows, header row first, label first.

    Examples:
    >>> from_rows([["method", "AUC"], ["random", 0.27]])
    {'columns': ['method', 'AUC'], 'rows': {'random': {'AUC': 0.27}}}
    """
    if not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError("a list-of-rows table must hold a header row first; received an empty or non-list table.")
    header = list(rows[0])
    labels = [str(row[0]) for row in rows[1:] if len(row)]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"row labels must be distinct; {duplicates} appear more than once.")
    built = {}
    for index, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise ValueError(f"row {index} {list(row)!r} has a length that differs from the header's {len(header)}.")
        built[row[0]] = list(row[1:])
    return table(header, built)


def as_table(value):
    """A table in the named form, from either the named form or a list of rows."""
    if isinstance(value, dict) and "columns" in value and "rows" in value:
        return table(value["columns"], value["rows"])
    if isinstance(value, (list, tuple)):
        return from_rows(value)
    raise ValueError(
        "a table must be a list of rows (header first) or {'columns': [...], 'rows': {label: cells}}; "
        f"received {type(value).__name__}."
    )


def to_rows(value):
    """A list of rows (header first) from a table in either form, cells as stored."""
    named = as_table(value)
    return [list(named["columns"])] + [[label, *cells.values()] for label, cells in named["rows"].items()]


# --------------------------------------------------------------------------- aggregation over seeds


def _cell(values):
    values = [_scalar(v) for v in values]
    if all(v is None or _is_number(v) for v in values):
        per_seed = []
        for v in values:
            if v is None or not math.isfinite(float(v)):
                per_seed.append(None)
            else:
                per_seed.append(int(v) if isinstance(v, numbers.Integral) else float(v))
        finite = np.asarray([v for v in per_seed if v is not None], dtype=float)
        return {
            "mean": float(finite.mean()) if finite.size else None,
            "sd": float(finite.std(ddof=1)) if finite.size > 1 else None,
            "per_seed": per_seed,
        }
    texts = list(dict.fromkeys(str(v) for v in values))  # distinct, in seed order
    return {"value": " / ".join(texts)}


def _sections(titles):
    if hasattr(titles, "items"):
        return [(str(title), str(key)) for key, title in titles.items()]
    try:
        return [(str(title), str(key)) for title, key in titles]
    except (TypeError, ValueError):
        raise ValueError(
            "`titles` must map table names to titles or be a list of (title, table name) pairs like a "
            f"reproduction's SECTIONS; received {titles!r}."
        ) from None


def aggregate(per_seed_tables, titles):
    """The ``"tables"`` of a results document from the same tables of several seeds.

    Args:
        per_seed_tables: one mapping per seed from table name to table (a list
            of rows or a :func:`table`); other keys (``"seconds"``,
            ``"recipe"``) are ignored. A reproduction's ``run()`` results fit.
        titles: which tables, in order, and their titles: a mapping
            ``{name: title}`` or a list of ``(title, name)`` pairs (a
            reproduction's ``SECTIONS``).

    Returns:
        A mapping from each table's name to its title, columns and rows (row
        label to column to cell); a numeric cell holds ``mean``, ``sd`` and
        ``per_seed``, a text cell ``value`` (see the module's docstring).

    Raises:
        ValueError: if there are no seeds, a table is missing, or the seeds'
            tables differ in columns or row labels.

    Examples:
    >>> aggregate([{"t": [["m", "x"], ["a", 1.0]]}, {"t": [["m", "x"], ["a", 3.0]]}], {"t": "T"})["t"].get("rows")
    {'a': {'x': {'mean': 2.0, 'sd': 1.4142135623730951, 'per_seed': [1.0, 3.0]}}}
    """
    if not per_seed_tables:
        raise ValueError("`per_seed_tables` must hold the tables of at least one seed; received an empty list.")
    result = {}
    for title, name in _sections(titles):
        tables = []
        for index, run in enumerate(per_seed_tables):
            if name not in run:
                available = [
                    k for k, v in run.items() if isinstance(v, (list, tuple)) or (isinstance(v, dict) and "rows" in v)
                ]
                raise ValueError(f"seed {index}'s results have no table {name!r}; tables there: {available}.")
            try:
                tables.append(as_table(run[name]))
            except ValueError as error:
                raise ValueError(f"table {name!r} of seed {index}: {error}") from None
        first = tables[0]
        for index, other in enumerate(tables[1:], start=1):
            if other["columns"] != first["columns"] or list(other["rows"]) != list(first["rows"]):
                raise ValueError(
                    f"the seeds' {name!r} tables must share one header and one list of row labels; seed {index} has "
                    f"header {other['columns']} and labels {list(other['rows'])}, expected {first['columns']} and "
                    f"{list(first['rows'])}."
                )
        rows = {
            label: {column: _cell([t["rows"][label][column] for t in tables]) for column in first["columns"][1:]}
            for label in first["rows"]
        }
        result[name] = {"title": title, "columns": list(first["columns"]), "rows": rows}
    return result


# --------------------------------------------------------------------------- documents on disk


def git_commit():
    """The commit hash of the source checkout avcourse runs from, or ``None`` (installed wheel, no git)."""
    if not ((_REPO_ROOT / ".git").exists() and (_REPO_ROOT / "pyproject.toml").is_file()):
        return None
    try:
        completed = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def results_document(command, seeds, size, runs, sections, commit=_DETECT, recipe=None, commit_per_seed=None):
    """The results document of one ``avcourse reproduce`` invocation.

    Args:
        command: the command line, e.g. ``"avcourse reproduce cavl --size small --seeds 0 1 2"``.
        seeds: the training seeds, one per run.
        size: the run size (``"demo"``, ``"small"``).
        runs: the reproduction's ``run()`` results, one per seed (tables plus
            an optional ``"seconds"``).
        sections: the reproduction's ``SECTIONS`` (or ``{name: title}``).
        commit: the commit to record; by default :func:`git_commit`.
        recipe: the recipe every seed ran (a JSON-able mapping such as
            ``dataclasses.asdict(RECIPES[size])``), stored as ``"recipe"``
            so that a later invocation can tell whether it may keep these
            seeds (``avcourse reproduce --resume``); left out when ``None``.
        commit_per_seed: the commit each seed ran at, when some seeds come
            from an earlier invocation of the same recipe; by default
            ``commit`` for every seed.

    Returns:
        ``{"command", "commit", "seeds", "size", "seconds_per_seed", "tables"}``,
        then ``"commit_per_seed"`` and ``"recipe"`` (when given).
    """
    seeds = [int(seed) for seed in seeds]
    if len(runs) != len(seeds):
        raise ValueError(f"`runs` must hold one result per seed; received {len(runs)} results for seeds {seeds}.")
    commit = git_commit() if commit is _DETECT else commit
    if commit_per_seed is None:
        commit_per_seed = [commit] * len(seeds)
    if len(commit_per_seed) != len(seeds):
        raise ValueError(f"`commit_per_seed` must hold one commit per seed; received {list(commit_per_seed)} "
                         f"for seeds {seeds}.")
    document = {
        "command": str(command),
        "commit": commit,
        "seeds": seeds,
        "size": str(size),
        "seconds_per_seed": [None if run.get("seconds") is None else float(run["seconds"]) for run in runs],
        "tables": aggregate(runs, sections),
        "commit_per_seed": list(commit_per_seed),
    }
    if recipe is not None:
        document["recipe"] = as_stored(recipe)
    return document


def as_stored(value):
    """``value`` as it reads back from a results file (tuples become lists), to compare with a stored one.

    Examples:
    >>> as_stored({"epochs": (6, 4, 4)})
    {'epochs': [6, 4, 4]}
    """
    return json.loads(json.dumps(value))


def seed_runs(document):
    """The per-seed runs a results document was aggregated from, the inverse of :func:`aggregate`.

    Returns one dict per seed of the document, ``{table name: table,
    "seconds": ...}`` (tables as :func:`table` builds them, each numeric cell
    its seed's value), which :func:`results_document` aggregates back into
    the same ``"tables"``. A text cell, stored once for all seeds, is given
    to every seed. ``avcourse reproduce --resume`` keeps finished seeds this way.

    Examples:
    >>> runs = [{"t": table(["m", "x"], {"a": [1.0]})}, {"t": table(["m", "x"], {"a": [3.0]})}]
    >>> document = results_document("avcourse reproduce t --seeds 0 1", [0, 1], "demo", runs, {"t": "T"}, commit=None)
    >>> tuple(run["t"].get("rows").get("a").get("x") for run in seed_runs(document))
    (1.0, 3.0)
    """
    _validate(document)
    runs = []
    for index in range(len(document["seeds"])):
        run = {"seconds": document["seconds_per_seed"][index]}
        for name, entry in document["tables"].items():
            rows = {label: {column: cell["value"] if "value" in cell else cell["per_seed"][index]
                            for column, cell in cells.items()}
                    for label, cells in entry["rows"].items()}
            run[name] = table(entry["columns"], rows)
        runs.append(run)
    return runs


def _validate(document, source="the document"):
    if not isinstance(document, dict):
        raise ValueError(f"{source} must be a JSON object; received {type(document).__name__}.")
    missing = [key for key in _DOCUMENT_KEYS if key not in document]
    if missing:
        raise ValueError(f"{source} lacks the keys {missing}; a results document has {list(_DOCUMENT_KEYS)}.")
    for name, entry in document["tables"].items():
        if not isinstance(entry, dict) or not {"title", "columns", "rows"} <= set(entry):
            raise ValueError(f"table {name!r} of {source} must have 'title', 'columns' and 'rows'.")
        for label, cells in entry["rows"].items():
            if list(cells) != list(entry["columns"][1:]):
                raise ValueError(f"row {label!r} of table {name!r} in {source} has columns {list(cells)}, "
                                 f"expected {entry['columns'][1:]}.")
            for column, cell in cells.items():
                if not isinstance(cell, dict) or not ({"mean", "sd", "per_seed"} <= set(cell) or "value" in cell):
                    raise ValueError(f"cell {label!r}/{column!r} of table {name!r} in {source} must be "
                                     f"{{'mean', 'sd', 'per_seed'}} or {{'value'}}; received {cell!r}.")
    return document


def write_results(document, directory="results", name=None):
    """Write ``document`` to ``<directory>/<name>.json`` and return the path.

    ``name`` defaults to the reproduction named in the document's command
    (``avcourse reproduce <name> …``). The folder is created if needed.
    """
    _validate(document)
    if name is None:
        words = str(document["command"]).split()
        if len(words) < 3 or words[:2] != ["avcourse", "reproduce"]:
            raise ValueError(f"cannot tell the results' name from the command {document['command']!r}; pass `name`.")
        name = words[2]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def results_root():
    """The folders searched for ``<name>.json`` by default, most specific first.

    From a source checkout (also an editable install) the repository's
    ``results/``; then ``avcourse/results`` inside an installed package; then
    ``results/`` in the current directory (where ``avcourse reproduce`` writes).
    """
    candidates = []
    if (_REPO_ROOT / "pyproject.toml").is_file():
        candidates.append(_REPO_ROOT / "results")
    candidates += [_PACKAGE_DIR / "results", Path.cwd() / "results"]
    return list(dict.fromkeys(candidates))


def load_results(name, directory=None):
    """The results document ``<directory>/<name>.json`` (default: see :func:`results_root`).

    Raises:
        FileNotFoundError: if there is no such file (the message lists the files there).
        ValueError: if the file is not a results document.
    """
    folders = [Path(directory)] if directory is not None else results_root()
    for folder in folders:
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON: {error}") from None
            return _validate(document, str(path))
    available = sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.json")})
    raise FileNotFoundError(
        f"no results file {name}.json in {', '.join(str(f) for f in folders)}; available: {available}. "
        f"Write it with `avcourse reproduce {name} --seeds 0 1 2`."
    )


def _document(name, directory):
    return _validate(name) if isinstance(name, dict) else load_results(name, directory)


def _entry(document, table_name):
    tables = document["tables"]
    if table_name not in tables:
        raise ValueError(f"no table {table_name!r} in the results of {document['command']!r}; tables: {list(tables)}.")
    return tables[table_name]


def _format(value):
    if isinstance(value, numbers.Integral):
        return str(value)
    return f"{value:.3f}"


def _display(cell, raw=False):
    """A cell for display: constant cells as their value, varying ones as ``"mean ± sd"``."""
    if "value" in cell:
        return cell["value"]
    per_seed, mean, sd = cell["per_seed"], cell["mean"], cell["sd"]
    if mean is None:
        return float("nan") if raw else "nan"
    if len(set(per_seed)) == 1:  # a single seed, or the same value in every seed (baselines, step counts)
        return per_seed[0] if raw else _format(per_seed[0])
    return f"{mean:.3f} ± {'nan' if sd is None else f'{sd:.3f}'}"


def _select(kind, requested, available, where):
    if requested is None:
        return list(available)
    requested = [requested] if isinstance(requested, str) else list(requested)
    unknown = [r for r in requested if r not in available]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown} in {where}; {kind} there: {list(available)}.")
    return requested


def results_table(name, table, directory=None, columns=None, rows=None, raw=False):
    """A stored table as a list of rows (header first) for display or :func:`markdown_table`.

    Args:
        name: the results' name (``"cavl"``, read with :func:`load_results`)
            or an already loaded document.
        table: the table's name (``"localization"``).
        directory: where ``<name>.json`` lies (default: :func:`results_root`).
        columns: the cell columns to show, in this order (default: all).
        rows: the row labels to show, in this order (default: all).
        raw: keep constant numeric cells as numbers instead of strings.

    Returns:
        ``[[label column, *columns], [label, cell, ...], ...]``: a cell that
        varies over the seeds is ``"mean ± sd"`` (3 decimals), one that does
        not (or a single seed's) its plain value, a text cell its text.

    Raises:
        ValueError: on an unknown table, column or row (the message lists what exists).
    """
    return table_rows(_entry(_document(name, directory), table), columns, rows, raw, where=f"table {table!r}")


def table_rows(entry, columns=None, rows=None, raw=False, where="the table"):
    """One aggregated table (an entry of a document's ``"tables"``) as a list of rows; see :func:`results_table`."""
    chosen_columns = _select("columns", columns, entry["columns"][1:], where)
    chosen_rows = _select("rows", rows, entry["rows"], where)
    header = [entry["columns"][0], *chosen_columns]
    return [header] + [
        [label, *(_display(entry["rows"][label][column], raw) for column in chosen_columns)] for label in chosen_rows
    ]


def results_cell(name, table, row, column, directory=None):
    """One stored cell: ``{"mean", "sd", "per_seed"}`` or ``{"value"}`` (see :func:`results_table`)."""
    entry = _entry(_document(name, directory), table)
    (row,) = _select("rows", [row], entry["rows"], f"table {table!r}")
    (column,) = _select("columns", [column], entry["columns"][1:], f"table {table!r}")
    return entry["rows"][row][column]


# --------------------------------------------------------------------------- docs/results.md blocks

_START = re.compile(r"^\s*<!--\s*results:\s*(?P<spec>.*?)\s*-->\s*$")
_END = re.compile(r"^\s*<!--\s*/results\s*-->\s*$")
_SPEC = re.compile(r"^(?P<name>[\w.-]+)/(?P<table>[\w.-]+)(?:\s+(?P<options>.*))?$")
_OPTION = re.compile(r"(\w+)=(.*?)(?=\s+\w+=|$)")


def _parse_spec(spec, line_number):
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"line {line_number}: marker {spec!r} must read 'NAME/TABLE [columns=a,b] [rows=x,y]'.")
    options = {}
    text = (match["options"] or "").strip()
    for key, value in _OPTION.findall(text):
        if key not in ("columns", "rows"):
            raise ValueError(f"line {line_number}: unknown marker option {key!r}; options: columns, rows.")
        options[key] = [item.strip() for item in next(csv.reader([value], skipinitialspace=True)) if item.strip()]
    if text and not _OPTION.match(text):
        raise ValueError(f"line {line_number}: cannot read the marker options {text!r}; write columns=a,b rows=x,y.")
    return match["name"], match["table"], options


def render_markdown_blocks(text, directory=None):
    """``text`` with every results block regenerated from ``<directory>/<NAME>.json``.

    A block is a line ``<!-- results: NAME/TABLE [columns=a,b] [rows=x,y] -->``,
    any lines, and a line ``<!-- /results -->``; its inside becomes a blank
    line, the table of :func:`results_table` in markdown, and a blank line.
    Text outside the blocks is kept byte for byte.

    Raises:
        ValueError: on an unterminated, nested or stray marker, or a marker
            naming a missing results file, table, column or row (with its line).
    """
    from avcourse.reproduce.tables import markdown_table

    lines = text.splitlines(keepends=True)
    output, index = [], 0
    while index < len(lines):
        line = lines[index]
        if _END.match(line):
            raise ValueError(f"line {index + 1}: '<!-- /results -->' without an opening results marker.")
        start = _START.match(line)
        if not start:
            output.append(line)
            index += 1
            continue
        name, table_name, options = _parse_spec(start["spec"], index + 1)
        end = index + 1
        while end < len(lines) and not _END.match(lines[end]):
            if _START.match(lines[end]):
                raise ValueError(f"line {end + 1}: results marker inside the block opened on line {index + 1}.")
            end += 1
        if end == len(lines):
            raise ValueError(f"line {index + 1}: results block {start['spec']!r} has no '<!-- /results -->'.")
        try:
            rows = results_table(name, table_name, directory, columns=options.get("columns"), rows=options.get("rows"))
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(f"line {index + 1} ({name}/{table_name}): {error}") from None
        newline = "\r\n" if line.endswith("\r\n") else "\n"
        opening = line if line.endswith(("\n", "\r")) else line + newline
        body = markdown_table(rows).replace("\n", newline)
        output += [opening, newline, body + newline, newline, lines[end]]
        index = end + 1
    return "".join(output)


def check_markdown(path, directory=None):
    """The unified diff between ``path`` and its regenerated blocks; ``""`` when they agree."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    return _diff(path, text, render_markdown_blocks(text, directory))


def _diff(path, text, rendered):
    before, after = text.splitlines(keepends=True), rendered.splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, str(path), f"{path} (from results)"))


_CLAIM = re.compile(r"<!--\s*claim:\s*(?P<expression>.*?)\s*-->", re.S)
_REFERENCE = re.compile(
    r"\{(?P<name>[\w.-]+)/(?P<table>[\w.-]+)/(?P<row>[^/{}]+)/(?P<column>[^/{}:]+?)(?::(?P<statistic>mean|sd))?\}"
)
_OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.USub: operator.neg, ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
}
_FUNCTIONS = {"abs": abs, "max": max, "min": min}


def _evaluate(node):
    """Arithmetic and comparisons of numbers only (``+ - * /``, ``< <= > >=``, ``and``/``or``, abs/max/min)."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BoolOp):
        values = [bool(_evaluate(value)) for value in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _OPERATORS for op in node.ops):
        left, holds = _evaluate(node.left), True
        for op, comparator in zip(node.ops, node.comparators):
            right = _evaluate(comparator)
            holds, left = holds and _OPERATORS[type(op)](left, right), right
        return holds
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            and not node.keywords):
        return _FUNCTIONS[node.func.id](*(_evaluate(argument) for argument in node.args))
    raise ValueError(f"unsupported element {ast.dump(node)[:60]!r}")


def check_claims(text, directory=None):
    """Evaluate every ``<!-- claim: EXPRESSION -->`` of a markdown text against the results files.

    ``{NAME/TABLE/ROW/COLUMN}`` in the expression is that stored cell's mean
    (``{...:sd}`` its standard deviation over the seeds); the rest is numbers,
    ``+ - * /``, comparisons, ``and``/``or`` and ``abs``/``max``/``min``.

    Returns:
        one message per claim that does not hold, with its line and the values
        it compared; an empty list when every claim holds.

    Raises:
        ValueError: on an expression that cannot be read or a reference to a
            missing file, table, row or column (with its line).

    Examples:
    >>> check_claims("<!-- claim: 1 + 1 > 1 -->")
    []
    >>> check_claims("text\\n<!-- claim: 2 < 1 -->")
    ['line 2: claim does not hold: 2 < 1']
    """
    failures = []
    for claim in _CLAIM.finditer(text):
        line = text.count("\n", 0, claim.start()) + 1
        expression = " ".join(claim["expression"].split())

        def value(reference, line=line):
            try:
                cell = results_cell(reference["name"], reference["table"], reference["row"].strip(),
                                    reference["column"].strip(), directory)
            except (ValueError, FileNotFoundError) as error:
                raise ValueError(f"line {line}: claim {expression!r}: {error}") from None
            number = cell.get(reference["statistic"] or "mean")
            if not _is_number(number):
                raise ValueError(f"line {line}: claim {expression!r}: {reference[0]} is not a number ({number!r}).")
            return repr(float(number))

        substituted = _REFERENCE.sub(value, expression)
        try:
            holds = _evaluate(ast.parse(substituted, mode="eval"))
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError) as error:
            raise ValueError(f"line {line}: cannot evaluate claim {expression!r}: {error}") from None
        if not holds:
            shown = f"{expression} (values: {substituted})" if substituted != expression else expression
            failures.append(f"line {line}: claim does not hold: {shown}")
    return failures


def markdown_main(argv=None, default_doc=None, default_results=None):
    """Command line of ``tools/results_markdown.py`` (also ``python -m avcourse.reproduce.results``)."""
    parser = argparse.ArgumentParser(
        prog="results_markdown",
        description="Regenerate the results blocks of a markdown file from results/<name>.json "
        "(blocks: '<!-- results: NAME/TABLE [columns=a,b] [rows=x,y] -->' ... '<!-- /results -->').",
    )
    if default_doc is None:
        checkout = (_REPO_ROOT / "pyproject.toml").is_file()
        default_doc = _REPO_ROOT / "docs" / "results.md" if checkout else Path("docs") / "results.md"
    parser.add_argument("--doc", default=str(default_doc), help="markdown file (default: %(default)s)")
    parser.add_argument(
        "--results-dir",
        default=None if default_results is None else str(default_results),
        help="folder of <name>.json (default: %(default)s, else the repository's results/)",
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 with a diff if the file is stale")
    args = parser.parse_args(argv)
    path = Path(args.doc)
    try:
        text = path.read_text(encoding="utf-8")
        rendered = render_markdown_blocks(text, args.results_dir)
    except (OSError, ValueError) as error:
        print(f"results_markdown: error: {error}", file=sys.stderr)
        return 1
    blocks = sum(1 for line in text.splitlines() if _START.match(line))
    try:
        failures = check_claims(text, args.results_dir)
    except ValueError as error:
        print(f"results_markdown: error: {error}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"results_markdown: {path}: {failure}", file=sys.stderr)
    claims = len(_CLAIM.findall(text))
    if args.check:
        if failures:
            return 1
        if rendered != text:
            sys.stdout.write(_diff(path, text, rendered))
            print(f"results_markdown: {path} disagrees with the results files; run python tools/results_markdown.py",
                  file=sys.stderr)
            return 1
        print(f"{path}: {blocks} results block(s) agree with the results files; {claims} claim(s) hold")
        return 0
    if rendered != text:
        path.write_text(rendered, encoding="utf-8")
        print(f"rewrote {path} ({blocks} results block(s))")
    else:
        print(f"{path}: {blocks} results block(s) already up to date")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(markdown_main())
