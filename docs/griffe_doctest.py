"""Griffe extension for the API reference: doctest examples and grouped arguments.

The docstrings here end with an `Example:` heading followed by doctest lines at
the docstring's own indentation (the form `pytest --doctest-modules` runs).
Google-style parsing in Griffe reads only an indented `Examples:` section as
examples, so this rewrites the heading and indents what follows it; the
doctest lines then render as Python code blocks instead of Markdown text.

It also splits an argument entry that documents several parameters at once
(`epochs, batch_size: training shape.`) into one entry per parameter, which
Griffe otherwise reports as an unknown parameter.
"""

import re

import griffe

_HEADING = re.compile(r"^(\s*)Examples?:\s*$")
_GROUPED = re.compile(r"^(\s+)(\*{0,2}\w+(?:,\s*\*{0,2}\w+)+):(\s.*|)$")


def split_grouped_arguments(text):
    """Returns `text` with `a, b: description` entries split per name."""
    out = []
    for line in text.splitlines():
        match = _GROUPED.match(line)
        if match is None:
            out.append(line)
            continue
        indent, names, description = match.groups()
        for name in re.split(r",\s*", names):
            out.append(f"{indent}{name}:{description}")
    return "\n".join(out)


def rewrite_examples(text):
    """Returns `text` with a bare `Example:` section turned into `Examples:`."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        match = _HEADING.match(line)
        if match is None:
            continue
        indent = match.group(1)
        rest = lines[number + 1:]
        if any(item.startswith(indent + "    ") for item in rest if item.strip()):
            return text  # already an indented section
        body = [("    " + item) if item.strip() else item for item in rest]
        return "\n".join(lines[:number] + [indent + "Examples:"] + body)
    return text


class DoctestExamples(griffe.Extension):
    """Rewrites `Example:` sections of every object's docstring."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = split_grouped_arguments(rewrite_examples(obj.docstring.value))
