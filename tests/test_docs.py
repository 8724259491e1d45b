"""The documentation cannot drift from the code.

- ``docs/configuration.md`` is exactly what ``python tools/docgen.py`` renders;
- every hook in ``satchel.hookspecs`` has a docstring with a ``:param NAME:`` line per
  parameter, and is on ``docs/hooks.md``;
- every page under ``docs/`` is in the ``mkdocs.yml`` nav, and every nav entry exists;
- the complete programs on the quickstart, logs, instances and blocking API pages and the hook
  examples run;
- the example backend of ``docs/writing-a-backend.md`` registers, builds from its variables,
  and passes the conformance kit;
- ``mkdocs build --strict`` succeeds.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import satchel
from satchel import hookspecs
from satchel.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
CONFIGURATION = DOCS / "configuration.md"


def _load_docgen() -> ModuleType:
    """``tools/docgen.py``, the docs build's tool that renders the configuration page."""
    spec = importlib.util.spec_from_file_location("docgen", ROOT / "tools" / "docgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docgen = _load_docgen()

# Folders under docs/ that hold no pages: code the pages include or the build uses.
NOT_PAGES = ("examples", "_griffe")


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SATCHEL_", "TA_", "KV_STORE_", "REDIS_URL"))
    }


def _python_blocks(text: str) -> list[str]:
    """The fenced Python blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def _module_from_source(name: str, source: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sqlite_example() -> Iterator[ModuleType]:
    """The ``satchel_sqlite`` package of the docs, importable for the test."""
    added = str(EXAMPLES) not in sys.path
    if added:
        sys.path.append(str(EXAMPLES))
    try:
        import satchel_sqlite.plugin  # type: ignore[import-not-found]

        yield satchel_sqlite.plugin
    finally:
        if added:
            sys.path.remove(str(EXAMPLES))


# --------------------------------------------------------------------------------------
# the generated configuration reference


def test_configuration_reference_is_current() -> None:
    expected = docgen.render_configuration_reference()
    current = CONFIGURATION.read_text(encoding="utf-8") if CONFIGURATION.is_file() else ""
    assert current == expected, (
        "docs/configuration.md is out of date with the settings classes; "
        f"regenerate it with: {docgen.REGENERATE_COMMAND}"
    )


def test_configuration_reference_covers_every_variable() -> None:
    text = docgen.render_configuration_reference()
    plugins = load_plugins()
    classes: list[Any] = [satchel.SatchelSettings]
    classes += [b.spec.settings_cls for b in plugins.backends.values() if b.spec.settings_cls]
    for settings_cls in classes:
        for variable in satchel.settings.describe_variables(settings_cls):
            assert f"### `{variable.name}`" in text
            for alias in variable.aliases:
                assert f"`{alias}`" in text
    for name in plugins.names():
        assert f"## Backend `{name}`" in text


def test_a_new_backend_gets_its_own_section(
    monkeypatch: pytest.MonkeyPatch, sqlite_example: ModuleType
) -> None:
    def with_sqlite(**kwargs: Any) -> Any:
        return load_plugins(extra_plugins=[("sqlite", sqlite_example)], **kwargs)

    monkeypatch.setattr(docgen, "load_plugins", with_sqlite)
    text = docgen.render_configuration_reference()
    assert "## Backend `sqlite` { #backend-sqlite }" in text
    assert "### `SATCHEL_SQLITE_PATH` { #satchel_sqlite_path }" in text
    assert text.index("## Backend `memory`") < text.index("## Backend `sqlite`")


def test_a_secret_setting_is_marked_and_its_default_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import SecretStr
    from pydantic_settings import BaseSettings

    class VaultSettings(BaseSettings):
        model_config = satchel.settings.plugin_settings_config("vault")
        token: SecretStr = SecretStr("s3cr3t-default")

    class VaultPlugin:
        @satchel.hookimpl
        def satchel_register_backends(self, register: Any) -> None:
            register(satchel.BackendSpec("vault", lambda s, c: None, VaultSettings))  # type: ignore[arg-type, return-value]

    monkeypatch.setattr(
        docgen,
        "load_plugins",
        lambda **kw: load_plugins(extra_plugins=[("vault", VaultPlugin())], **kw),
    )
    text = docgen.render_configuration_reference()
    assert "### `SATCHEL_VAULT_TOKEN`" in text
    assert "- Secret: never shown" in text
    assert "s3cr3t-default" not in text


def test_a_plugin_that_fails_to_load_stops_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        @satchel.hookimpl
        def satchel_register_backends(self, register: Any) -> None:
            raise RuntimeError("boom")

    monkeypatch.setattr(
        docgen,
        "load_plugins",
        lambda **kw: load_plugins(extra_plugins=[("broken", Broken())], **kw),
    )
    with pytest.raises(satchel.PluginError, match="broken"):
        docgen.render_configuration_reference()


def test_docgen_command_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "configuration.md"
    assert docgen.main(["--check", "--output", str(output)]) == 1
    assert docgen.REGENERATE_COMMAND in capsys.readouterr().err
    assert docgen.main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == docgen.render_configuration_reference()
    assert docgen.main(["--check", "--output", str(output)]) == 0
    output.write_text("stale\n", encoding="utf-8")
    assert docgen.main(["--check", "--output", str(output)]) == 1


def test_docgen_finds_the_page_beside_mkdocs_yml(tmp_path: Path) -> None:
    assert docgen.default_output(ROOT / "core" / "src") == CONFIGURATION
    with pytest.raises(FileNotFoundError, match="--output"):
        docgen.default_output(tmp_path)


# --------------------------------------------------------------------------------------
# the hook reference


def _hooks() -> list[tuple[str, Any]]:
    return [
        (name, function)
        for name, function in vars(hookspecs).items()
        if name.startswith("satchel_") and callable(function)
    ]


def test_there_are_hooks() -> None:
    assert len(_hooks()) >= 3


@pytest.mark.parametrize(("name", "function"), _hooks(), ids=[n for n, _ in _hooks()])
def test_hook_is_documented(name: str, function: Any) -> None:
    docstring = inspect.getdoc(function)
    assert docstring, f"hook {name} has no docstring"
    for parameter in inspect.signature(function).parameters:
        assert re.search(rf"^:param {re.escape(parameter)}:", docstring, re.M), (
            f"hook {name}: its docstring has no ':param {parameter}:' line"
        )
    page = (DOCS / "hooks.md").read_text(encoding="utf-8")
    rendered = re.search(r"^::: satchel\.hookspecs\s*$", page, re.M) is not None
    assert rendered or name in page, f"hook {name} is not on docs/hooks.md"


def _hook_example(heading: str) -> str:
    page = (DOCS / "hooks.md").read_text(encoding="utf-8")
    section = page.split(heading, 1)[1]
    return _python_blocks(section)[0]


async def test_hook_examples_work(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from satchel_memory import MemoryBackend

    slowlog = _module_from_source(
        "docs_slowlog", _hook_example("## Example: observing every operation"), tmp_path
    )
    zlib_codec = _module_from_source("docs_zlib", _hook_example("## Example: a codec"), tmp_path)
    setattr(slowlog, "THRESHOLD", 0.0)  # log every operation  # noqa: B010
    plugins = load_plugins(extra_plugins=[("slowlog", slowlog), ("zlib", zlib_codec)])
    raw = MemoryBackend()
    store = satchel.Satchel(raw, satchel.SatchelSettings.model_construct(), plugins)
    kv = store.kv("notes")
    big = {"text": "spam " * 2000, "n": 1}
    with caplog.at_level("WARNING", logger="satchel.slowlog"):
        await kv.set("big", big)
        await kv.set("small", {"n": 2})
        assert await kv.get("big") == big
        assert await kv.get("small") == {"n": 2}
    assert "slow satchel put on memory" in caplog.text
    stored = await raw.get("default:kv:notes", "big")
    assert stored is not None and list(stored.value) == [zlib_codec.MARK]
    # what the page says about queries on encoded values
    assert [e.key for e in (await kv.query({"n": 1})).items] == []
    assert [e.key for e in (await kv.query({"n": 2})).items] == ["small"]


# --------------------------------------------------------------------------------------
# the site


def _nav_pages() -> list[str]:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1]
    nav = re.split(r"\n(?=\S)", nav, maxsplit=1)[0]  # up to the next top-level key
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.M)


def _pages() -> list[str]:
    return sorted(
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if path.relative_to(DOCS).parts[0] not in NOT_PAGES
    )


def test_every_page_is_in_the_nav() -> None:
    nav = _nav_pages()
    missing = [page for page in _pages() if page not in nav]
    assert not missing, f"pages not in the nav of mkdocs.yml: {missing}"
    assert len(nav) == len(set(nav)), f"a page is in the nav twice: {nav}"


def test_the_nav_has_the_expected_pages() -> None:
    for page in (
        "index.md",
        "quickstart.md",
        "logs.md",
        "instances.md",
        "configuration.md",
        "queries.md",
        "writing-a-backend.md",
        "hooks.md",
        "teal-agents.md",
        "errors.md",
        "performance.md",
        "cli.md",
        "redis.md",
        "mongodb.md",
        "openai-agents.md",
        "langgraph.md",
        "adk.md",
        "a2a.md",
        "sync.md",
        "moving-data.md",
    ):
        assert page in _nav_pages(), page


#: The pages whose complete programs (the blocks that call ``asyncio.run``) must run.
RUNNABLE_PAGES = ("quickstart.md", "logs.md", "moving-data.md", "instances.md")


@pytest.mark.parametrize(
    "block",
    [
        b
        for page in RUNNABLE_PAGES
        for b in _python_blocks((DOCS / page).read_text(encoding="utf-8"))
        if "asyncio.run(" in b
    ],
)
def test_quickstart_programs_run(block: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, f"this quickstart program failed:\n{block}\n{result.stderr}"


@pytest.mark.parametrize(
    "block",
    [
        b
        for b in _python_blocks((DOCS / "sync.md").read_text(encoding="utf-8"))
        if "satchel.sync.open(" in b
    ],
)
def test_blocking_api_programs_run(block: str, tmp_path: Path) -> None:
    """The programs of sync.md run with warnings as errors (an unclosed socket would show)
    and print nothing on stderr."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", block],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, f"this program of sync.md failed:\n{block}\n{result.stderr}"
    assert result.stderr == ""


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (uv sync --group docs)")
    if importlib.util.find_spec("mkdocstrings_handlers") is None:
        pytest.skip("mkdocstrings[python] is not installed (uv sync --group docs)")
    env = _clean_env() | {"NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    assert (tmp_path / "site" / "hooks" / "index.html").is_file()
    hooks_html = (tmp_path / "site" / "hooks" / "index.html").read_text(encoding="utf-8")
    for name, _ in _hooks():
        assert name in hooks_html, f"{name} is not rendered on the hooks page"


# --------------------------------------------------------------------------------------
# the example backend of writing-a-backend.md


def test_example_backend_registers_and_builds(tmp_path: Path, sqlite_example: ModuleType) -> None:
    from satchel.handle import build_backend

    plugins = load_plugins(extra_plugins=[("sqlite", sqlite_example)])
    assert "sqlite" in plugins.names()
    settings = satchel.SatchelSettings.model_construct(backend="sqlite")
    path = tmp_path / "db.sqlite3"
    backend = build_backend(settings, plugins, {"SATCHEL_SQLITE_PATH": str(path)})
    assert type(backend).__name__ == "SqliteBackend"
    assert backend.describe() == f"sqlite {path}"
    with pytest.raises(satchel.ConfigError, match="SATCHEL_SQLITE_TIMEOUT='soon'"):
        build_backend(settings, plugins, {"SATCHEL_SQLITE_TIMEOUT": "soon"})


def test_example_plugin_module_does_not_import_the_driver(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import satchel_sqlite.plugin; "
        "print('satchel_sqlite.backend' in sys.modules, 'sqlite3' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]


async def test_example_backend_round_trip(tmp_path: Path, sqlite_example: ModuleType) -> None:
    from satchel_sqlite.backend import SqliteBackend  # type: ignore[import-not-found]

    path = str(tmp_path / "db.sqlite3")
    async with satchel.open(backend=SqliteBackend(path)) as store:
        kv = store.kv("agent-state")
        assert await kv.set("a*", {"step": 1}) == 1
        assert await kv.set("a*", {"step": 2}) == 2
        assert await kv.keys("a\\*") == ["a*"]
    async with satchel.open(backend=SqliteBackend(path)) as store:  # persistent
        assert await store.kv("agent-state").get("a*") == {"step": 2}


def _example_conformance() -> type | None:
    """``TestSqliteConformance`` of docs/examples/sqlite_conformance.py, which the page
    shows; ``None`` when the kit is not importable."""
    if importlib.util.find_spec("hypothesis") is None:
        return None
    try:
        from satchel.testing import BackendConformance  # noqa: F401
    except ImportError:
        return None
    if str(EXAMPLES) not in sys.path:
        sys.path.append(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(
        "docs_sqlite_conformance", EXAMPLES / "sqlite_conformance.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found: type = module.TestSqliteConformance
    return found


_ExampleConformance = _example_conformance()

if _ExampleConformance is not None:

    class TestExampleBackendConformance(_ExampleConformance):  # type: ignore[misc, valid-type]
        """The SQLite backend of docs/writing-a-backend.md, tested as the page shows, keeps
        every rule of the conformance kit."""

else:

    def test_example_backend_conformance() -> None:
        pytest.skip("satchel.testing.BackendConformance is not available")


def _page_blocks(language: str, text: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def _kit_run_as_the_page_sets_it_up(
    folder: Path, pyproject: str
) -> subprocess.CompletedProcess[str]:
    """The test module of the page run in a project laid out as the page shows, with
    deprecation warnings as errors; a few of the kit's tests are enough to load it all."""
    page = (DOCS / "writing-a-backend.md").read_text(encoding="utf-8")
    (conftest,) = [b for b in _python_blocks(page) if b.startswith("# conftest.py")]
    (folder / "tests").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (folder / "conftest.py").write_text(conftest, encoding="utf-8")
    test_module = (EXAMPLES / "sqlite_conformance.py").read_text(encoding="utf-8")
    (folder / "tests" / "test_conformance.py").write_text(test_module, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-W",
            "error::DeprecationWarning",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "if_version",
            "-c",
            str(folder / "pyproject.toml"),
            "--rootdir",
            str(folder),
        ],
        capture_output=True,
        text=True,
        env=_clean_env() | {"PYTHONPATH": str(EXAMPLES)},
        cwd=folder,
        timeout=300,
        check=False,
    )


def test_the_pages_project_runs_the_kit_without_deprecation_warnings(tmp_path: Path) -> None:
    pytest.importorskip("pytest_asyncio")
    page = (DOCS / "writing-a-backend.md").read_text(encoding="utf-8")
    (pyproject,) = [b for b in _page_blocks("toml", page) if b.startswith("[project]")]
    result = _kit_run_as_the_page_sets_it_up(tmp_path / "as-documented", pyproject)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    # and the line the page adds for pytest-asyncio is what keeps the run clean
    bare = pyproject.split("[tool.pytest.ini_options]")[0]
    result = _kit_run_as_the_page_sets_it_up(tmp_path / "without-the-line", bare)
    assert result.returncode != 0
    assert "asyncio_default_fixture_loop_scope" in result.stdout + result.stderr
