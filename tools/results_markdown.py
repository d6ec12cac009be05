"""Regenerate the tables of docs/results.md from results/<name>.json.

A development-time tool (run from anywhere; it needs only numpy)::

    python tools/results_markdown.py            # rewrite every results block
    python tools/results_markdown.py --check    # exit 1 with a diff if a block is stale

A block is the generated markdown table between two marker lines::

    <!-- results: cavl/localization columns=cIoU@0.5,AUC -->
    ...
    <!-- /results -->

``NAME/TABLE`` names results/NAME.json and one of its tables; ``columns=`` and
``rows=`` optionally select and order columns and rows (comma-separated, a name
holding a comma double-quoted). Cells are "mean ± sd" over the seeds with 3
decimals; cells equal in every seed, and single-seed files, show the plain value.
The logic lives in avcourse.reproduce.results (render_markdown_blocks).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's avcourse, installed or not

from avcourse.reproduce.results import markdown_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(markdown_main(default_doc=ROOT / "docs" / "results.md", default_results=ROOT / "results"))
