"""The lazy packages ``satchel`` and ``satchel.testing`` each keep one table of their public
names (name -> module); ``__all__`` is made from it, every name resolves, and the
``TYPE_CHECKING`` imports, which type checkers read instead of the table, say the same."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import satchel
import satchel.testing


def _type_checking_imports(module: ModuleType) -> dict[str, str]:
    """``{name: module}`` of the ``from M import N as N`` lines under ``if TYPE_CHECKING:``."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for line in node.body:
                assert isinstance(line, ast.ImportFrom), ast.unparse(line)
                for alias in line.names:
                    # "N as N": the form mypy --strict takes as a re-export
                    assert alias.asname == alias.name, ast.unparse(line)
                    assert alias.name not in found, f"{alias.name} is imported twice"
                    found[alias.name] = str(line.module)
    return found


def test_satchel_names_agree() -> None:
    table = satchel._EXPORTS
    assert satchel.__all__ == sorted([*table, *satchel._SUBMODULES])
    expected = dict(table) | dict.fromkeys(satchel._SUBMODULES, "satchel")
    assert _type_checking_imports(satchel) == expected


def test_satchel_testing_names_agree() -> None:
    table = satchel.testing._HOMES
    assert satchel.testing.__all__ == sorted(table)
    expected = {name: f"satchel.testing.{home}" for name, home in table.items()}
    assert _type_checking_imports(satchel.testing) == expected
    assert set(satchel.testing._MODULES) == set(table.values())


@pytest.mark.parametrize("package", [satchel, satchel.testing], ids=lambda p: p.__name__)
def test_every_public_name_resolves_where_the_table_says(package: ModuleType) -> None:
    for name in package.__all__:
        value = getattr(package, name)
        if isinstance(value, ModuleType):
            assert value.__name__ == f"{package.__name__}.{name}"
            continue
        home = _type_checking_imports(package)[name]
        assert getattr(importlib.import_module(home), name) is value
        assert name in dir(package)


@pytest.mark.parametrize("package", ["satchel", "satchel.testing"])
def test_importing_the_package_imports_none_of_its_names_modules(package: str) -> None:
    code = (
        f"import sys, {package} as p\n"
        "table = getattr(p, '_EXPORTS', None) or {"
        "n: p.__name__ + '.' + m for n, m in p._HOMES.items()}\n"
        "print(sorted(m for m in set(table.values()) if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        satchel.nothing  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        satchel.testing.nothing  # noqa: B018
