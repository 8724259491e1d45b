"""Glob patterns on keys, in the language of Redis's ``MATCH`` (:func:`compile_glob`,
:func:`escape_glob`, :func:`glob_match`)."""

from __future__ import annotations

import re
from typing import Final

from satchel.errors import InvalidQuery
from satchel.query.model import _show_input, check_text

_GLOB_SPECIAL: Final = frozenset("*?[]\\")


def escape_glob(text: str) -> str:
    """``text`` with every glob character escaped, so that it matches only itself."""
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in text)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a key pattern into a regular expression matching whole keys.

    The language is Redis's ``MATCH`` glob: ``*`` any run of characters (also empty),
    ``?`` one character, ``[abc]`` one of a set, ``[a-z]`` a range, ``[^abc]`` or
    ``[!abc]`` none of a set, ``\\x`` the character ``x`` itself. An unclosed ``[`` is an
    :class:`InvalidQuery`.
    """
    if not isinstance(pattern, str):
        raise InvalidQuery(f"pattern: must be a string, not {_show_input(pattern)}")
    check_text(pattern, "pattern")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            i += 1
            if i == n:
                raise InvalidQuery(f"pattern: {pattern!r} ends with a lone backslash")
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = i + 1
            negate = j < n and pattern[j] in "^!"
            if negate:
                j += 1
            members: list[str] = []
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    members.append(re.escape(pattern[j + 1]))
                    j += 2
                elif j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    low, high = sorted((pattern[j], pattern[j + 2]))
                    members.append(f"{re.escape(low)}-{re.escape(high)}")
                    j += 3
                else:
                    members.append(re.escape(pattern[j]))
                    j += 1
            if j >= n:
                raise InvalidQuery(f"pattern: {pattern!r} has a '[' that is never closed")
            if not members:
                out.append("(?!)" if not negate else ".")
            else:
                out.append(f"[{'^' if negate else ''}{''.join(members)}]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, key: str) -> bool:
    """Whether ``key`` matches ``pattern`` as a whole (see :func:`compile_glob`)."""
    return compile_glob(pattern).fullmatch(key) is not None
