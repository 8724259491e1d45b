"""The marker plugins use on their hook implementations (exported as ``satchel.hookimpl``)."""

from __future__ import annotations

import pluggy

__all__ = ["hookimpl"]

#: Marks a function or method as an implementation of a hook in :mod:`satchel.hookspecs`.
hookimpl = pluggy.HookimplMarker("satchel")
