"""The documentation site builds cleanly, and its Python code runs.

- `mkdocs build --strict` (what `make docs` runs) succeeds: no broken links,
  no docstring that Griffe cannot parse, every page in the navigation.
- Every ```python block of every page in docs/ is executed, page by page in
  one namespace per page (so later blocks use earlier ones), in a temporary
  working directory.
- The numbers on the benchmarks page are the README's.
"""

import os
import pathlib
import re
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page):
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="run `make setup` (installs requirements-docs.txt)")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "images" / "adapter_placement.svg").is_file()
    assert (tmp_path / "site" / "api" / "core" / "index.html").is_file()


def test_pages_have_code_and_the_guides_exist():
    names = {str(page.relative_to(DOCS)) for page in PAGES}
    for required in ["quickstart.md", "concepts.md", "benchmarks.md", "verification.md",
                     "howto/fine-tune.md", "howto/save-reload.md", "howto/gpt2-generation.md",
                     "howto/export-serving.md", "howto/tune-bottleneck.md",
                     "howto/multitask.md", "howto/token-classification.md"]:
        assert required in names
    assert sum(len(python_blocks(page)) for page in PAGES) >= 10


@pytest.mark.parametrize(
    "page", [p for p in PAGES if python_blocks(p)], ids=lambda p: str(p.relative_to(DOCS))
)
def test_page_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_page_{page.stem}"}
    try:
        for number, block in enumerate(python_blocks(page), start=1):
            code = compile(block, f"{page.relative_to(ROOT)} (python block {number})", "exec")
            exec(code, namespace)  # noqa: S102 - the docs' own examples
    finally:
        namespace.clear()
        keras.backend.clear_session()


def _table_rows(text):
    return {line.strip() for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def test_benchmark_numbers_come_from_the_readme():
    """Every table row on the benchmarks page is one of the README's rows.

    (tests/test_benchmarks.py checks that the README's benchmark block is
    generated from the committed results.)
    """
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    assert _table_rows(page) <= _table_rows(readme)


# `tests/FILE.py`, optionally followed by `::Class::name` (a parametrised
# id's `[...]` is not part of the match).
CITED_TEST = re.compile(r"tests/([\w/]+\.py)((?:::\w+)*)")


def cited_tests_that_do_not_exist(page_text):
    """The `tests/FILE.py[::NAME]` citations in `page_text` with no such file or test."""
    missing = []
    for file, chain in sorted(set(CITED_TEST.findall(page_text))):
        path = ROOT / "tests" / file
        if not path.is_file():
            missing.append(f"tests/{file} (no such file)")
            continue
        source = path.read_text(encoding="utf-8")
        *classes, name = chain.split("::")[1:] or [None]
        definitions = [("class", c) for c in classes] + ([("def", name)] if name else [])
        if not all(re.search(rf"^\s*{kind} {n}\b", source, re.MULTILINE) for kind, n in definitions):
            missing.append(f"tests/{file}{chain}")
    return missing


def test_tests_cited_on_the_verification_page_exist():
    """Every test file and `tests/FILE.py::NAME` cited on verification.md exists.

    A parametrised id (`NAME[...]`) counts by its function name. A renamed
    or deleted test would otherwise leave the page claiming a check that no
    longer runs.
    """
    page = (DOCS / "verification.md").read_text(encoding="utf-8")
    assert "::" in page and CITED_TEST.search(page), "verification.md cites no tests"
    assert cited_tests_that_do_not_exist("tests/test_docs.py::test_no_such_test_here") == [
        "tests/test_docs.py::test_no_such_test_here"]
    missing = cited_tests_that_do_not_exist(page)
    assert not missing, "verification.md cites tests that do not exist: " + ", ".join(missing)
