"""The README's two commands are the ones CI and the install page run (product rule: two commands)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    return [line for block in blocks[:2] for line in block.splitlines()]


def test_readme_starts_with_the_demo_and_the_test_command():
    demo, tests = readme_commands()
    assert demo == "pip install . && avcourse demo"
    assert tests.startswith('pip install ".[test]" && python -m pytest')


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_the_install_page_gives_the_same_commands():
    demo, tests = readme_commands()
    page = (ROOT / "docs" / "install.md").read_text()
    assert demo in page and tests in page
