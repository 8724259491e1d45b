"""A griffe extension for the docs build: turn the reStructuredText bits of satchel's
docstrings into Markdown, so the hook reference reads cleanly.

- ``:class:`~satchel.errors.PluginError``` and the other roles become inline code
  (``PluginError``; the full path without ``~``);
- a paragraph ending in ``::`` followed by an indented block becomes a paragraph ending
  in ``:`` followed by a fenced Python block;
- paragraphs written after the ``:param name:`` fields are moved before them, where the
  sphinx parser keeps them as text instead of reading them into the last parameter.

The ``:param name:`` fields are left alone: the sphinx docstring parser reads them.

It also leaves out the docstrings of the modules in ``PAGE_INTRODUCED``, whose pages open with
an introduction of their own, so that the reference does not say it twice.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

PAGE_INTRODUCED = frozenset({"satchel.hookspecs"})

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _literal_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip().startswith(":"):
            stripped = line.rstrip()[:-2].rstrip()
            # "Example::" -> "Example:"; a lone "::" disappears
            if stripped:
                out.append(stripped + ":")
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            base = len(line) - len(line.lstrip())
            block: list[str] = []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base
            ):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                indent = " " * base
                out += ["", indent + "```python"]
                out += [indent + row if row.strip() else "" for row in textwrap.dedent(
                    "\n".join(block)).split("\n")]
                out += [indent + "```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


_FIELD = re.compile(r"^:(param|type|raises|raise|returns|return|rtype|var|ivar|cvar)\b")


def _fields_last(text: str) -> str:
    lines = text.split("\n")
    body: list[str] = []
    fields: list[str] = []
    in_fields = False
    previous_blank = False
    for line in lines:
        blank = not line.strip()
        if _FIELD.match(line):
            in_fields = True
        elif in_fields and not blank and previous_blank and not line.startswith((" ", "\t")):
            in_fields = False
        (fields if in_fields else body).append(line)
        previous_blank = blank
    while body and not body[-1].strip():
        body.pop()
    while fields and not fields[-1].strip():
        fields.pop()
    return "\n".join(body + ([""] + fields if fields else []))


class SphinxRoles(griffe.Extension):
    """Rewrite reStructuredText roles and literal blocks in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.path in PAGE_INTRODUCED:
            obj.docstring = None
        if obj.docstring is not None:
            obj.docstring.value = _literal_blocks(_fields_last(_ROLE.sub(_role, obj.docstring.value)))
