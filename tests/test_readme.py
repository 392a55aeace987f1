"""The README's Python example runs as written and prints what it says."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}  # blocks build on each other, as in a tutorial
    for block in blocks:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(block, str(README), "exec"), namespace)
        # `print(...)  # text` in the README promises that text in the output.
        for promised in re.findall(r"^print\(.*\)\s+#\s*(.+)$", block, flags=re.M):
            assert promised.strip() in output.getvalue(), (promised, output.getvalue())
