"""Loading a custom backend class named by ``SATCHEL_BACKEND_MODULE``/``SATCHEL_BACKEND_CLASS``.

It works the way the Teal Agents factory loads ``TA_PERSISTENCE_MODULE``/
``TA_PERSISTENCE_CLASS`` (:mod:`satchel.teal`): a module given as a file path is loaded with
``importlib.util.spec_from_file_location`` and registered under the file's base name; a
dotted name is imported. The class is built with ``settings=`` and, failing that, with no
arguments. Every failure is a :class:`~satchel.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from satchel import teal
from satchel.backend import Backend, missing_methods
from satchel.errors import ConfigError, SatchelError
from satchel.redaction import scrub_secrets
from satchel.settings import variable_in_use

__all__ = ["build_custom_backend", "load_backend_class"]


def _looks_like_path(module: str) -> bool:
    return module.endswith(".py") or os.sep in module or "/" in module


def _load_module(module: str, variable: str) -> ModuleType:
    if _looks_like_path(module):
        path = Path(module).expanduser()
        if not path.is_file():
            raise ConfigError(f"{variable}={module!r}: no such file")
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{variable}={module!r}: not a Python module file")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise ConfigError(
                f"{variable}={module!r}: importing it failed: "
                f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
            ) from exc
        return loaded
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            raise ConfigError(
                f"{variable}={module!r}: no module named {exc.name!r} "
                "(give a dotted module on sys.path or a path to a .py file)"
            ) from exc
        raise ConfigError(
            f"{variable}={module!r}: importing it failed: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise ConfigError(
            f"{variable}={module!r}: importing it failed: "
            f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
        ) from exc


def load_backend_class(
    module: str, class_name: str, environ: Mapping[str, str] | None = None
) -> type[Any]:
    """Import ``module`` and return its ``class_name``, checked against the contract."""
    env = os.environ if environ is None else environ
    module_var = variable_in_use("SATCHEL_BACKEND_MODULE", teal.PERSISTENCE_MODULE_VARIABLE, env)
    class_var = variable_in_use("SATCHEL_BACKEND_CLASS", teal.PERSISTENCE_CLASS_VARIABLE, env)
    loaded = _load_module(module, module_var)
    cls = getattr(loaded, class_name, None)
    if cls is None:
        classes = sorted(
            n for n, v in vars(loaded).items() if inspect.isclass(v) and not n.startswith("_")
        )
        raise ConfigError(
            f"{class_var}={class_name!r}: {module!r} has no such class"
            + (f" (it has: {', '.join(classes)})" if classes else "")
        )
    if not inspect.isclass(cls):
        raise ConfigError(f"{class_var}={class_name!r}: is a {type(cls).__name__}, not a class")
    missing = missing_methods(cls)
    if missing:
        raise ConfigError(
            f"{class_var}={class_name!r}: does not implement the backend contract "
            f"(satchel.backend.Backend); missing async methods: {', '.join(missing)}"
        )
    return cls


def build_custom_backend(
    module: str, class_name: str, settings: Any, environ: Mapping[str, str] | None = None
) -> Backend:
    """Load the class and build it with ``settings=``, or failing that with no arguments."""
    cls = load_backend_class(module, class_name, environ)
    try:
        try:
            backend = cls(settings=settings)
        except TypeError:
            backend = cls()
    except SatchelError:
        raise
    except Exception as exc:
        class_var = variable_in_use(
            "SATCHEL_BACKEND_CLASS", teal.PERSISTENCE_CLASS_VARIABLE, environ
        )
        raise ConfigError(
            f"{class_var}={class_name!r}: building it failed: "
            f"{type(exc).__name__}: {scrub_secrets(str(exc))}"
        ) from exc
    return backend  # type: ignore[no-any-return]
