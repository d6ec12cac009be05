"""Results as data: named tables, aggregation over seeds, results/<name>.json and the docs' generated tables."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avcourse.reproduce import results
from avcourse.reproduce.tables import markdown_table

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = [("Localization", "localization"), ("Counting", "counting")]


def _run(seed, named=True):
    """A fake run(): localization as a named table, counting as a list of rows (both forms at once)."""
    values = {0: 0.2, 1: 0.3, 2: float("nan")}
    localization = results.table(
        ["method", "cIoU@0.5", "AUC", "note"],
        {
            "C1, aligned": {"AUC": 0.4 + 0.01 * seed, "cIoU@0.5": values[seed], "note": "learned"},
            "whole image": [0.129, 0.381, "baseline"],
        },
    )
    counting = [["counter", "accuracy", "steps"], ["trained", 0.5 + 0.1 * seed, 100]]
    if not named:
        localization = results.to_rows(localization)
    return {"localization": localization, "counting": counting, "seconds": 10.0 + seed, "recipe": {"size": "demo"}}


def _document(seeds=(0, 1, 2)):
    runs = [_run(seed) for seed in seeds]
    return results.results_document(
        f"avcourse reproduce fake --size demo --seeds {' '.join(map(str, seeds))}", seeds, "demo", runs, SECTIONS,
        commit=None,
    )


# --------------------------------------------------------------------------- building tables


def test_table_orders_cells_by_columns_and_accepts_lists_or_mappings():
    built = results.table(["m", "a", "b"], {"x": {"b": 2, "a": 1}, 3: [4.0, "t"]})
    assert built == {"columns": ["m", "a", "b"], "rows": {"x": {"a": 1, "b": 2}, "3": {"a": 4.0, "b": "t"}}}
    assert list(built["rows"]["x"]) == ["a", "b"]
    assert results.from_rows([["m", "a", "b"], ["x", 1, 2], [3, 4.0, "t"]]) == built
    assert results.to_rows(built) == [["m", "a", "b"], ["x", 1, 2], ["3", 4.0, "t"]]
    assert results.as_table(built) == results.as_table(results.to_rows(built)) == built


def test_table_rejects_rows_that_do_not_fit_the_columns():
    with pytest.raises(ValueError, match=r"missing: \['b'\], unknown: \['c'\]"):
        results.table(["m", "a", "b"], {"x": {"a": 1, "c": 2}})
    with pytest.raises(ValueError, match="has 1 cells"):
        results.table(["m", "a", "b"], {"x": [1]})
    with pytest.raises(ValueError, match="distinct"):
        results.table(["m", "a", "a"], {})
    with pytest.raises(ValueError, match="non-empty"):
        results.table([], {})
    with pytest.raises(ValueError, match=r"\['x'\] appear more than once"):
        results.from_rows([["m", "a"], ["x", 1], ["x", 2]])
    with pytest.raises(ValueError, match="length that differs"):
        results.from_rows([["m", "a"], ["x", 1, 2]])
    with pytest.raises(ValueError, match="list of rows"):
        results.as_table("not a table")


# --------------------------------------------------------------------------- aggregation


def test_aggregate_matches_numpy_mean_and_sample_sd_without_nan():
    tables = results.aggregate([_run(seed) for seed in (0, 1, 2)], SECTIONS)
    assert list(tables) == ["localization", "counting"]
    localization = tables["localization"]
    assert localization["title"] == "Localization"
    assert localization["columns"] == ["method", "cIoU@0.5", "AUC", "note"]
    assert list(localization["rows"]) == ["C1, aligned", "whole image"]
    assert list(localization["rows"]["C1, aligned"]) == ["cIoU@0.5", "AUC", "note"]

    ciou = localization["rows"]["C1, aligned"]["cIoU@0.5"]
    finite = np.array([0.2, 0.3])  # seed 2's NaN is left out
    assert ciou["per_seed"] == [0.2, 0.3, None]
    assert ciou["mean"] == pytest.approx(finite.mean()) and ciou["sd"] == pytest.approx(finite.std(ddof=1))

    auc = localization["rows"]["C1, aligned"]["AUC"]
    values = np.array([0.40, 0.41, 0.42])
    assert auc["mean"] == pytest.approx(values.mean()) and auc["sd"] == pytest.approx(values.std(ddof=1))
    assert auc["per_seed"] == pytest.approx(list(values))

    assert localization["rows"]["C1, aligned"]["note"] == {"value": "learned"}
    assert localization["rows"]["whole image"]["AUC"] == {"mean": 0.381, "sd": 0.0, "per_seed": [0.381] * 3}
    steps = tables["counting"]["rows"]["trained"]["steps"]
    assert steps == {"mean": 100.0, "sd": 0.0, "per_seed": [100, 100, 100]}


def test_aggregate_of_one_seed_has_no_sd_and_text_that_differs_is_joined():
    tables = results.aggregate([_run(1)], {"counting": "Counting"})
    assert list(tables) == ["counting"]
    assert tables["counting"]["rows"]["trained"]["accuracy"] == {"mean": 0.6, "sd": None, "per_seed": [0.6]}
    texts = [{"t": [["m", "x"], ["a", word]]} for word in ("yes", "no", "yes")]
    assert results.aggregate(texts, {"t": "T"})["t"]["rows"]["a"]["x"] == {"value": "yes / no"}
    empty = results.aggregate([{"t": [["m", "x"], ["a", float("nan")]]}, {"t": [["m", "x"], ["a", None]]}], {"t": "T"})
    assert empty["t"]["rows"]["a"]["x"] == {"mean": None, "sd": None, "per_seed": [None, None]}


def test_aggregate_accepts_old_and_new_forms_alike():
    assert results.aggregate([_run(0, named=False), _run(1)], SECTIONS) == results.aggregate(
        [_run(0), _run(1, named=False)], SECTIONS
    )


def test_aggregate_rejects_missing_tables_and_seeds_that_do_not_line_up():
    with pytest.raises(ValueError, match="at least one seed"):
        results.aggregate([], SECTIONS)
    with pytest.raises(ValueError, match=r"no table 'grounding'; tables there: \['localization', 'counting'\]"):
        results.aggregate([_run(0)], {"grounding": "Grounding"})
    other = _run(1)
    other["counting"] = [["counter", "accuracy", "steps"], ["constant", 0.4, 0]]
    with pytest.raises(ValueError, match="one list of row labels; seed 1"):
        results.aggregate([_run(0), other], SECTIONS)
    with pytest.raises(ValueError, match="list of .title, table name. pairs"):
        results.aggregate([_run(0)], 3)


# --------------------------------------------------------------------------- documents


def test_results_document_has_the_schema():
    document = _document()
    assert list(document) == ["command", "commit", "seeds", "size", "seconds_per_seed", "tables", "commit_per_seed"]
    assert document["command"] == "avcourse reproduce fake --size demo --seeds 0 1 2"
    assert document["commit_per_seed"] == [None, None, None]
    assert document["seeds"] == [0, 1, 2] and document["size"] == "demo"
    assert document["seconds_per_seed"] == [10.0, 11.0, 12.0]
    assert document["commit"] is None
    commit = results.results_document("c", [0], "demo", [_run(0)], SECTIONS)["commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    with pytest.raises(ValueError, match="one result per seed"):
        results.results_document("c", [0, 1], "demo", [_run(0)], SECTIONS)


def test_write_and_load_round_trip_as_strict_json(tmp_path):
    document = _document()
    path = results.write_results(document, tmp_path / "results")
    assert path == tmp_path / "results" / "fake.json"

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    assert json.loads(path.read_text(), parse_constant=no_constants) == document
    assert results.load_results("fake", tmp_path / "results") == document
    assert list(results.load_results("fake", tmp_path / "results")["tables"]["localization"]["rows"]) == [
        "C1, aligned",
        "whole image",
    ]
    with pytest.raises(FileNotFoundError, match=r"available: \['fake'\]"):
        results.load_results("cavl", tmp_path / "results")
    (tmp_path / "results" / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load_results("broken", tmp_path / "results")
    (tmp_path / "results" / "partial.json").write_text('{"command": "x"}')
    with pytest.raises(ValueError, match="lacks the keys"):
        results.load_results("partial", tmp_path / "results")
    with pytest.raises(ValueError, match="pass `name`"):
        results.write_results(dict(document, command="something else"), tmp_path)
    assert results.write_results(dict(document, command="x"), tmp_path, name="other") == tmp_path / "other.json"


def test_results_root_looks_in_the_checkout_first():
    roots = results.results_root()
    assert Path.cwd() / "results" in roots
    if (ROOT / "src") in Path(results.__file__).resolve().parents:  # a checkout or editable install
        assert roots[0] == ROOT / "results"


def test_results_table_shows_mean_and_sd_and_plain_constants(tmp_path):
    results.write_results(_document(), tmp_path)
    table = results.results_table("fake", "localization", tmp_path)
    values = np.array([0.40, 0.41, 0.42])
    assert table == [
        ["method", "cIoU@0.5", "AUC", "note"],
        ["C1, aligned", "0.250 ± 0.071", f"{values.mean():.3f} ± {values.std(ddof=1):.3f}", "learned"],
        ["whole image", "0.129", "0.381", "baseline"],
    ]
    assert results.results_table("fake", "counting", tmp_path)[1] == ["trained", "0.600 ± 0.100", "100"]
    assert results.results_table("fake", "localization", tmp_path, columns=["AUC"], rows=["whole image"]) == [
        ["method", "AUC"],
        ["whole image", "0.381"],
    ]
    single = _document(seeds=(1,))
    assert results.results_table(single, "counting") == [["counter", "accuracy", "steps"], ["trained", "0.600", "100"]]
    cell = results.results_cell(single, "counting", "trained", "accuracy")
    assert cell == {"mean": 0.6, "sd": None, "per_seed": [0.6]}


def test_results_table_names_what_exists_when_asked_for_what_does_not(tmp_path):
    document = _document()
    with pytest.raises(ValueError, match=r"no table 'grounding'.*tables: \['localization', 'counting'\]"):
        results.results_table(document, "grounding")
    with pytest.raises(ValueError, match=r"unknown columns \['SDR'\].*\['cIoU@0.5', 'AUC', 'note'\]"):
        results.results_table(document, "localization", columns=["AUC", "SDR"])
    with pytest.raises(ValueError, match=r"unknown rows \['random'\].*\['C1, aligned', 'whole image'\]"):
        results.results_cell(document, "localization", "random", "AUC")
    with pytest.raises(FileNotFoundError, match="no results file missing.json"):
        results.results_table("missing", "localization", tmp_path)


# --------------------------------------------------------------------------- docs/results.md blocks

DOC = """# Results

Some prose | with a pipe.

<!-- results: fake/localization columns=AUC,cIoU@0.5 rows="C1, aligned" -->
stale text
<!-- /results -->

More prose.

<!-- results: fake/counting -->
<!-- /results -->
"""


def test_render_markdown_blocks_fills_every_block_and_keeps_the_prose(tmp_path):
    results.write_results(_document(), tmp_path)
    rendered = results.render_markdown_blocks(DOC, tmp_path)
    selected = results.results_table("fake", "localization", tmp_path, ["AUC", "cIoU@0.5"], ["C1, aligned"])
    localization = markdown_table(selected)
    counting = markdown_table(results.results_table("fake", "counting", tmp_path))
    assert rendered == DOC.replace("stale text\n", f"\n{localization}\n\n").replace(
        "<!-- results: fake/counting -->\n", f"<!-- results: fake/counting -->\n\n{counting}\n\n"
    )
    assert "| C1, aligned | 0.410 ± 0.010 | 0.250 ± 0.071 |" in rendered
    assert results.render_markdown_blocks(rendered, tmp_path) == rendered  # idempotent
    assert results.render_markdown_blocks("no blocks\n", tmp_path) == "no blocks\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- results: nothing/table -->\n<!-- /results -->\n", "line 1 .nothing/table.: no results file nothing"),
        ("<!-- results: fake/grounding -->\n<!-- /results -->\n", "no table 'grounding'"),
        ("x\n<!-- results: fake/counting columns=SDR -->\n<!-- /results -->\n", r"line 2 .*unknown columns \['SDR'\]"),
        ("<!-- results: fake/counting -->\n", "has no '<!-- /results -->'"),
        ("<!-- /results -->\n", "without an opening"),
        ("<!-- results: fake/counting -->\n<!-- results: fake/counting -->\n<!-- /results -->\n", "inside the block"),
        ("<!-- results: fake -->\n<!-- /results -->\n", "must read 'NAME/TABLE"),
        ("<!-- results: fake/counting colour=red -->\n<!-- /results -->\n", "unknown marker option 'colour'"),
    ],
)
def test_render_markdown_blocks_rejects_bad_markers(tmp_path, text, message):
    results.write_results(_document(), tmp_path)
    with pytest.raises(ValueError, match=message):
        results.render_markdown_blocks(text, tmp_path)


def test_check_mode_passes_on_the_repository_docs(capsys):
    # Zero blocks is fine as long as docs/results.md has none; every block there must match results/.
    doc = ROOT / "docs" / "results.md"
    assert results.markdown_main(["--check", "--doc", str(doc), "--results-dir", str(ROOT / "results")]) == 0
    assert "agree with the results files" in capsys.readouterr().out
    assert results.check_markdown(doc, ROOT / "results") == ""
    tool = [sys.executable, str(ROOT / "tools" / "results_markdown.py"), "--check"]
    tool = subprocess.run(tool, capture_output=True, text=True, check=False)
    assert tool.returncode == 0, tool.stdout + tool.stderr


def test_check_mode_fails_when_a_number_of_the_real_docs_is_changed(tmp_path):
    doc = tmp_path / "results.md"
    text = (ROOT / "docs" / "results.md").read_text()
    blocks = results.render_markdown_blocks(text, ROOT / "results")
    assert blocks == text  # in sync
    cell = results.results_table("cavl", "localization", directory=ROOT / "results")[1][1]  # C1 aligned pointing
    assert cell in text
    doc.write_text(text.replace(cell, "0.999 ± 0.001", 1))
    assert results.check_markdown(doc, ROOT / "results") != ""


def test_check_mode_fails_on_a_tampered_copy(tmp_path, capsys):
    directory = tmp_path / "results"
    results.write_results(_document(), directory)
    for stored in (ROOT / "results").glob("*.json"):  # the blocks docs/results.md already holds
        shutil.copy(stored, directory)
    doc = tmp_path / "results.md"
    shutil.copy(ROOT / "docs" / "results.md", doc)
    doc.write_text(doc.read_text() + "\n" + DOC)
    arguments = ["--doc", str(doc), "--results-dir", str(directory)]
    assert results.markdown_main(["--check", *arguments]) == 1  # the blocks are stale
    assert "+| C1, aligned | 0.410 ± 0.010 | 0.250 ± 0.071 |" in capsys.readouterr().out
    assert results.markdown_main(arguments) == 0  # rewrite
    assert results.markdown_main(["--check", *arguments]) == 0
    capsys.readouterr()

    doc.write_text(doc.read_text().replace("0.410 ± 0.010", "0.420 ± 0.010"))
    assert results.markdown_main(["--check", *arguments]) == 1
    diff = capsys.readouterr().out
    assert "-| C1, aligned | 0.420 ± 0.010" in diff and "+| C1, aligned | 0.410 ± 0.010" in diff
    assert results.check_markdown(doc, directory) == diff

    doc.write_text(doc.read_text() + "<!-- results: cavl_missing/localization -->\n<!-- /results -->\n")
    assert results.markdown_main(["--check", *arguments]) == 1
    assert "no results file cavl_missing.json" in capsys.readouterr().err


# --------------------------------------------------------------------------- claims in prose


def test_claims_compare_stored_means_and_standard_deviations(tmp_path):
    results.write_results(_document(), tmp_path)  # name "fake": counting/trained/accuracy per seed 0.5, 0.6, 0.7
    accuracy = np.array([0.5, 0.6, 0.7])
    mean, sd = accuracy.mean(), accuracy.std(ddof=1)  # reference: numpy's sample statistics
    holds = f"<!-- claim: {{fake/counting/trained/accuracy}} > {mean - 0.01} -->"
    spread = f"<!-- claim: abs({{fake/counting/trained/accuracy:sd}} - {sd}) < 1e-9 and {{fake/localization/whole image/AUC}} < 0.4 -->"
    fails = "prose\n<!-- claim: {fake/counting/trained/accuracy} >\n   {fake/localization/C1, aligned/AUC} + 1 -->"
    assert results.check_claims(holds + spread, tmp_path) == []
    (failure,) = results.check_claims(fails, tmp_path)
    assert failure.startswith("line 2: claim does not hold:") and "values: 0.6" in failure


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ("{fake/counting/missing row/accuracy} > 0", "missing row"),
        ("{nothing/counting/trained/accuracy} > 0", "nothing"),
        ("__import__('os') > 0", "cannot evaluate"),
        ("{fake/localization/whole image/note} > 0", "not a number"),
        ("1 >", "cannot evaluate"),
    ],
)
def test_claims_reject_what_they_cannot_read(tmp_path, claim, message):
    results.write_results(_document(), tmp_path)
    with pytest.raises(ValueError, match=message):
        results.check_claims(f"<!-- claim: {claim} -->", tmp_path)


def test_check_mode_fails_on_a_claim_that_does_not_hold(tmp_path, capsys):
    results.write_results(_document(), tmp_path)
    doc = tmp_path / "results.md"
    doc.write_text("The counter is perfect.\n<!-- claim: {fake/counting/trained/accuracy} >= 1 -->\n")
    assert results.markdown_main(["--check", "--doc", str(doc), "--results-dir", str(tmp_path)]) == 1
    assert "claim does not hold" in capsys.readouterr().err


def test_seed_runs_give_back_what_was_aggregated():
    runs = [_run(seed) for seed in range(3)]  # seed 2's cIoU is NaN: it stays missing; "note" is a text cell
    document = results.results_document("c", [0, 1, 2], "demo", runs, SECTIONS, commit=None,
                                        recipe={"epochs": (1, 2)}, commit_per_seed=["a", "b", "c"])
    assert document["recipe"] == {"epochs": [1, 2]} and document["commit_per_seed"] == ["a", "b", "c"]
    back = results.seed_runs(json.loads(json.dumps(document)))
    assert [run["seconds"] for run in back] == document["seconds_per_seed"]
    again = results.results_document("c", [0, 1, 2], "demo", back, SECTIONS, commit=None, recipe={"epochs": (1, 2)},
                                     commit_per_seed=["a", "b", "c"])
    assert again == document
    with pytest.raises(ValueError, match="one commit per seed"):
        results.results_document("c", [0, 1], "demo", runs[:2], SECTIONS, commit=None, commit_per_seed=["a"])

