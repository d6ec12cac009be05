"""Result tables of the reproductions: markdown rendering and aggregation over seeds.

A table is a list of rows, header row first; every other row starts with a
label (the method) followed by cells. One run is not a result (the training of
small models from scratch is seed-sensitive, docs/results.md), so
``avcourse reproduce … --seeds 0 1 2`` reports every numeric cell as the mean
± standard deviation over the seeds (:func:`aggregate_seeds`).
"""

import numbers

import numpy as np

__all__ = ["aggregate_seeds", "markdown_table"]


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


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
    are; numeric cells that differ become ``"m ± s"`` with the mean and the
    sample standard deviation (``ddof=1``) over the seeds, 3 decimals; NaN
    cells (e.g. a metric undefined in one run) are left out of the mean.

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
    if not tables:
        raise ValueError("`tables` must hold at least one table; received an empty list.")
    header = list(tables[0][0])
    labels = [row[0] for row in tables[0][1:]]
    for index, table in enumerate(tables):
        if list(table[0]) != header or [row[0] for row in table[1:]] != labels:
            raise ValueError(
                f"`tables` must share one header and one list of row labels; table {index} has header "
                f"{list(table[0])} and labels {[row[0] for row in table[1:]]}, expected {header} and {labels}."
            )
        if any(len(row) != len(header) for row in table[1:]):
            raise ValueError(f"`tables[{index}]` has a row whose length differs from the header's {len(header)}.")
    aggregated = [header]
    for row_index in range(1, len(tables[0])):
        row = [labels[row_index - 1]]
        for column in range(1, len(header)):
            values = [table[row_index][column] for table in tables]
            if all(_is_number(v) for v in values) and len({float(v) for v in values}) > 1:
                finite = np.asarray([float(v) for v in values if not np.isnan(float(v))])
                spread = finite.std(ddof=1) if len(finite) > 1 else float("nan")
                row.append(f"{finite.mean():.3f} ± {spread:.3f}" if len(finite) else "nan")
            else:
                row.append(values[0])
        aggregated.append(row)
    return aggregated
