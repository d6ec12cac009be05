"""Result tables of the reproductions: markdown rendering and aggregation over seeds.

A table is a list of rows, header row first; every other row starts with a
label (the method) followed by cells. One run is not a result (the training of
small models from scratch is seed-sensitive, docs/results.md), so
``avcourse reproduce … --seeds 0 1 2`` reports every numeric cell as the mean
± standard deviation over the seeds (:func:`aggregate_seeds`). The numbers
themselves are stored in ``results/<name>.json`` (:mod:`avcourse.reproduce.results`);
:func:`aggregate_seeds` is the list-of-rows view of the same aggregation.
"""

import numpy as np

__all__ = ["aggregate_seeds", "markdown_table"]


def markdown_table(rows):
    """A table (header row first) as GitHub markdown, floats with 3 decimals."""

    def cell(value):
        return f"{value:.3f}" if isinstance(value, (float, np.floating)) else str(value)

    lines = ["| " + " | ".join(cell(v) for v in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def aggregate_seeds(tables):
    """One table from the same table of several seeds: numeric cells become ``"mean ± sd"``.

    Cells that are equal in every seed (labels, step counts) are kept as they
    are (text that differs is joined with ``" / "``); numeric cells that
    differ become ``"m ± s"`` with the mean and the sample standard
    deviation (``ddof=1``) over the seeds, 3 decimals; NaN
    cells (e.g. a metric undefined in one run) are left out of the mean. It is
    :func:`avcourse.reproduce.results.aggregate` followed by
    :func:`avcourse.reproduce.results.results_table` with ``raw=True``.

    Args:
        tables: list of tables (lists of rows, header row first) with the same
            header and the same row labels in the same order.

    Returns:
        the aggregated table.

    Raises:
        ValueError: if ``tables`` is empty or the tables' headers, row labels
            or shapes differ.

    Examples:
    >>> aggregate_seeds([[["method", "SDR"], ["a", 1.0]], [["method", "SDR"], ["a", 3.0]]])
    [['method', 'SDR'], ['a', '2.000 ± 1.414']]
    """
    from avcourse.reproduce import results

    if not tables:
        raise ValueError("`tables` must hold at least one table; received an empty list.")
    aggregated = results.aggregate([{"table": t} for t in tables], {"table": ""})["table"]
    return results.table_rows(aggregated, raw=True)
