"""``python -m satchel.cli``: the same as the ``satchel`` command."""

from __future__ import annotations

from satchel.cli import main

if __name__ == "__main__":
    main()
