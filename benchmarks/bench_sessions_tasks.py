"""Benchmark of satchel's ADK session service and A2A task store against the SDKs' own.

Two workloads, each run whole, on every side in the same run:

- **Google ADK, a session of 50 events**: ``create_session``, then ``append_event`` 50
  times (alternately the user's and the model's event, each with about 200 characters of
  text and a two-key ``state_delta``, see :func:`adk_event`). Read back: ``get_session``
  with ``GetSessionConfig(num_recent_events=10)`` on a session the runs wrote, and the
  listing of a user's 1,000 sessions (stored before timing, kept throughout): satchel's
  ``list_sessions_page`` in pages of 50, ADK's own services a single ``list_sessions``
  call (they cannot page).

  Sides: ``SatchelSessionService`` (satchel-adk) on memory, Redis and MongoDB, each on a
  handle from ``satchel.open()``; ADK's ``InMemorySessionService``; its
  ``DatabaseSessionService`` on SQLite (``sqlite+aiosqlite``, a file in a temporary
  directory), and on PostgreSQL (``postgresql+asyncpg``) when ``--postgres`` names a server.

- **A2A, a task saved 51 times**: ``save`` of a new task, then 50 more ``save`` calls of
  the same task, its history one message (about 200 characters of text) longer each time,
  as a task's history grows while an agent works on it (see :func:`a2a_message`). Read
  back: ``get`` of a task the runs wrote (51 messages), and the listing of an owner's 1,000
  tasks (stored before timing, kept throughout) with ``list`` in pages of 50
  (``ListTasksRequest(page_size=50, page_token=...)``), on every side.

  Sides: ``SatchelTaskStore`` (satchel-a2a) on memory, Redis and MongoDB; the SDK's
  ``InMemoryTaskStore``; its ``DatabaseTaskStore`` on SQLite (``sqlite+aiosqlite``, a file
  in a temporary directory), and on PostgreSQL when ``--postgres`` names a server.

Each satchel backend is compared with the SDK's in-memory side (memory) and with its
database sides on SQLite and PostgreSQL (every backend). Before timing, every side runs the
workload once and the benchmark checks that they all read back the same events or
messages, and list the same number of sessions or tasks.

Rounds as in ``bench_integrations.py``: each repeat times ``--runs`` runs (then as many
reads of each kind) on every side with ``time.perf_counter_ns``, all in one event loop,
after a warm-up of one run per side; the sides run back to back in an order that rotates
from repeat to repeat; after every repeat (untimed) every side deletes the sessions or
tasks its runs wrote. Times are medians of ``--repeats`` repeats, in ms; the ratio of
satchel over a peer is the median of each repeat's own ratio.

The benchmark starts a throwaway ``redis-server`` (from PATH) and a throwaway SecantusDB in
a process of its own, as the other benchmarks do; ``--url`` and ``--uri`` (or
``SATCHEL_BENCH_MONGODB_URI``) name servers to use instead, where it writes only keys under
``satchel-bench:`` and collections whose names start with ``satchel-bench.``, and deletes
them before and after. ``--postgres`` (or ``SATCHEL_BENCH_POSTGRES_URL``), a
``postgresql://`` URL of a server on which the benchmark may create a database, adds the
SDKs' database services on PostgreSQL: each workload runs in a throwaway database
(``satchel_bench_<pid>_<workload>``) that the benchmark creates and drops. This is a
measurement, not a test: it prints the numbers (``--json``: as JSON) and sets no targets.

    uv sync --all-groups --all-extras
    uv run python benchmarks/bench_sessions_tasks.py
    uv run python benchmarks/bench_sessions_tasks.py --workloads adk --repeats 5
    uv run python benchmarks/bench_sessions_tasks.py --backends memory,redis --json
    uv run python benchmarks/bench_sessions_tasks.py --postgres postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

import cli
from rounds import by_side, paired_ratio, rounded, side_names
from servers import Servers, open_handle, scratch, start
from sides import Side, Sides
from workload import prose

BACKENDS = ("memory", "redis", "mongodb")
WORKLOADS = ("adk", "a2a")

#: Events appended to a session, and the events ``get_session`` reads back.
EVENTS = 50
RECENT = 10
#: Saves of a task after the first (each with one more message in its history).
SAVES = 50
#: Sessions of the listed user, tasks of the listed owner, and the page size.
LISTED = 1000
PAGE = 50
#: Characters of text per event or message.
TEXT = 200

APP = "bench-app"
USER = "bench-user"
LIST_USER = "bench-lister"
OWNER = "bench-owner"
LIST_OWNER = "bench-lister"


# --------------------------------------------------------------------------------------
# the sides


# -- ADK


def adk_event(n: int) -> Any:
    """The ``n``-th event of a session: the user's (even ``n``) or the model's, with text
    and a state delta of two keys."""
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions
    from google.genai import types

    author = "user" if n % 2 == 0 else "bench_agent"
    role = "user" if n % 2 == 0 else "model"
    return Event(
        invocation_id=f"inv-{n // 2}",
        author=author,
        content=types.Content(role=role, parts=[types.Part(text=prose(f"Event {n}", TEXT))]),
        actions=EventActions(state_delta={"turn": n // 2, "last_author": author}),
    )


def adk_side(name: str, service: Any, pages: bool) -> Side:
    from google.adk.sessions.base_session_service import GetSessionConfig

    counter = itertools.count()
    tag = name.replace(" ", "-").replace("(", "").replace(")", "")
    sessions: list[str] = []
    config = GetSessionConfig(num_recent_events=RECENT)

    async def run(i: int) -> Any:
        sid = f"{tag}-{next(counter)}"
        sessions.append(sid)
        session = await service.create_session(app_name=APP, user_id=USER, session_id=sid)
        for n in range(EVENTS):
            await service.append_event(session, adk_event(n))
        return session

    async def get(i: int) -> Any:
        sid = sessions[i % len(sessions)]
        return await service.get_session(app_name=APP, user_id=USER, session_id=sid, config=config)

    async def listing(i: int) -> list[str]:
        if not pages:
            found = await service.list_sessions(app_name=APP, user_id=LIST_USER)
            return [s.id for s in found.sessions]
        ids: list[str] = []
        cursor = None
        while True:
            page = await service.list_sessions_page(
                app_name=APP, user_id=LIST_USER, limit=PAGE, cursor=cursor
            )
            ids += [s.id for s in page.sessions]
            cursor = page.next_cursor
            if cursor is None:
                return ids

    async def reset() -> None:
        for sid in sessions:
            await service.delete_session(app_name=APP, user_id=USER, session_id=sid)
        sessions.clear()

    async def fill() -> None:
        for n in range(LISTED):
            await service.create_session(app_name=APP, user_id=LIST_USER, session_id=f"s-{n:05d}")

    async def digest() -> Any:
        session = await get(len(sessions) - 1)
        events = [(e.author, e.content.parts[0].text) for e in session.events]
        return {"events": events, "state": dict(session.state), "listed": sorted(await listing(0))}

    return Side(name, run, {"get": get, "list": listing}, reset, digest, fill=fill)


async def adk_sides(
    stack: contextlib.AsyncExitStack, servers: Servers, backends: list[str], directory: str
) -> Sides:
    from google.adk.sessions import DatabaseSessionService, InMemorySessionService

    from satchel_adk import SatchelSessionService

    out = Sides()
    for backend in backends:
        handle = open_handle(backend, servers, "adk")
        stack.push_async_callback(handle.close)
        service = SatchelSessionService(store=handle, ttl=None)
        out.sides.append(adk_side(f"satchel {backend}", service, pages=True))
    if "memory" in backends:
        out.sides.append(adk_side("InMemorySessionService", InMemorySessionService(), False))
    database = DatabaseSessionService(
        f"sqlite+aiosqlite:///{os.path.join(directory, 'sessions.db')}"
    )
    stack.push_async_callback(database.close)
    out.sides.append(adk_side("DatabaseSessionService (SQLite)", database, False))
    if POSTGRES.url is not None:
        postgres = DatabaseSessionService(await _postgres_database(stack, "adk"))
        stack.push_async_callback(postgres.close)
        out.sides.append(adk_side("DatabaseSessionService (PostgreSQL)", postgres, False))
    return out


# -- A2A


def a2a_message(task_id: str, n: int) -> Any:
    from a2a.types.a2a_pb2 import Message, Part, Role

    role = Role.ROLE_USER if n % 2 == 0 else Role.ROLE_AGENT
    return Message(
        message_id=f"{task_id}-m{n}",
        context_id="ctx-bench",
        task_id=task_id,
        role=role,
        parts=[Part(text=prose(f"Message {n}", TEXT))],
    )


def a2a_task(task_id: str, messages: int) -> Any:
    from a2a.types.a2a_pb2 import Task, TaskState, TaskStatus

    status = TaskStatus(state=TaskState.TASK_STATE_WORKING)
    status.timestamp.FromSeconds(1_700_000_000)
    return Task(
        id=task_id,
        context_id="ctx-bench",
        status=status,
        history=[a2a_message(task_id, n) for n in range(messages)],
    )


def a2a_side(name: str, store: Any) -> Side:
    from a2a.auth.user import User
    from a2a.server.context import ServerCallContext
    from a2a.types.a2a_pb2 import ListTasksRequest

    class Owner(User):
        def __init__(self, name: str) -> None:
            self._name = name

        @property
        def is_authenticated(self) -> bool:
            return True

        @property
        def user_name(self) -> str:
            return self._name

    context = ServerCallContext(user=Owner(OWNER))
    lister = ServerCallContext(user=Owner(LIST_OWNER))
    counter = itertools.count()
    tag = name.replace(" ", "-").replace("(", "").replace(")", "")
    tasks: list[str] = []

    async def run(i: int) -> Any:
        task_id = f"{tag}-{next(counter)}"
        tasks.append(task_id)
        task = a2a_task(task_id, 1)
        await store.save(task, context)
        for n in range(1, SAVES + 1):
            task.history.append(a2a_message(task_id, n))
            await store.save(task, context)
        return task

    async def get(i: int) -> Any:
        return await store.get(tasks[i % len(tasks)], context)

    async def listing(i: int) -> list[str]:
        ids: list[str] = []
        token = ""
        while True:
            page = await store.list(ListTasksRequest(page_size=PAGE, page_token=token), lister)
            ids += [t.id for t in page.tasks]
            token = page.next_page_token
            if not token:
                return ids

    async def reset() -> None:
        for task_id in tasks:
            await store.delete(task_id, context)
        tasks.clear()

    async def fill() -> None:
        for n in range(LISTED):
            await store.save(a2a_task(f"listed-{n:05d}", 1), lister)

    async def digest() -> Any:
        task = await get(len(tasks) - 1)
        history = [(m.role, m.parts[0].text) for m in task.history]
        return {"history": history, "listed": sorted(await listing(0))}

    return Side(name, run, {"get": get, "list": listing}, reset, digest, fill=fill)


async def a2a_sides(
    stack: contextlib.AsyncExitStack, servers: Servers, backends: list[str], directory: str
) -> Sides:
    from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore
    from sqlalchemy.ext.asyncio import create_async_engine

    from satchel_a2a import SatchelTaskStore

    out = Sides()
    for backend in backends:
        handle = open_handle(backend, servers, "a2a")
        stack.push_async_callback(handle.close)
        out.sides.append(a2a_side(f"satchel {backend}", SatchelTaskStore(store=handle, ttl=None)))
    if "memory" in backends:
        out.sides.append(a2a_side("InMemoryTaskStore", InMemoryTaskStore()))
    engine = create_async_engine(f"sqlite+aiosqlite:///{os.path.join(directory, 'tasks.db')}")
    stack.push_async_callback(engine.dispose)
    database = DatabaseTaskStore(engine)
    await database.initialize()
    out.sides.append(a2a_side("DatabaseTaskStore (SQLite)", database))
    if POSTGRES.url is not None:
        pg_engine = create_async_engine(await _postgres_database(stack, "a2a"))
        stack.push_async_callback(pg_engine.dispose)
        postgres = DatabaseTaskStore(pg_engine)
        await postgres.initialize()
        out.sides.append(a2a_side("DatabaseTaskStore (PostgreSQL)", postgres))
    return out


# -- PostgreSQL


@dataclass
class _Postgres:
    url: str | None = None


#: The server ``--postgres`` names (none: the PostgreSQL sides do not run).
POSTGRES = _Postgres()


async def _postgres_database(stack: contextlib.AsyncExitStack, workload: str) -> str:
    """Create a throwaway database on the ``--postgres`` server, dropped when ``stack``
    closes; return its SQLAlchemy URL (``postgresql+asyncpg``)."""
    import asyncpg

    assert POSTGRES.url is not None
    parts = urllib.parse.urlsplit(POSTGRES.url)
    name = f"satchel_bench_{os.getpid()}_{workload}"
    admin = await asyncpg.connect(POSTGRES.url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        admin = await asyncpg.connect(POSTGRES.url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    stack.push_async_callback(drop)
    return urllib.parse.urlunsplit(
        ("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, "")
    )


#: The peers every satchel backend is compared with, by workload (those that ran).
PEERS = {
    "adk": [
        "InMemorySessionService",
        "DatabaseSessionService (SQLite)",
        "DatabaseSessionService (PostgreSQL)",
    ],
    "a2a": ["InMemoryTaskStore", "DatabaseTaskStore (SQLite)", "DatabaseTaskStore (PostgreSQL)"],
}


async def measure(
    workload: str, servers: Servers, backends: list[str], runs: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    async with scratch(servers, "satchel-bench-sessions-tasks-") as (stack, directory):
        build = adk_sides if workload == "adk" else a2a_sides
        sides = await build(stack, servers, backends, directory)
        await sides.check()
        return await sides.run(runs, repeats, warmup)


def summarise(workload: str, backends: list[str], runs: dict[str, list[float]]) -> dict[str, Any]:
    ops = ("run", "get", "list")
    names = side_names(runs)
    sides = by_side(runs, ops)
    comparisons: dict[str, Any] = {}
    for backend in backends:
        ours = f"satchel {backend}"
        comparisons[backend] = {
            peer: {
                op: round(paired_ratio(runs[f"{op} {ours}"], runs[f"{op} {peer}"]), 3) for op in ops
            }
            for peer in PEERS[workload]
            if peer in names and (backend == "memory" or peer.startswith("Database"))
        }
    return {"sides": sides, "comparisons": comparisons}


#: The distributions whose versions the report gives.
VERSIONS = ("google-adk", "a2a-sdk", "sqlalchemy", "aiosqlite", "asyncpg", "redis", "pymongo")


OP_LABELS = {"run": "run", "get": "get", "list": f"list {LISTED}"}


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    cli.add_list(parser, "--workloads", WORKLOADS, "comma-separated", "both")
    cli.add_list(parser, "--backends", BACKENDS, "satchel's backends", "all")
    parser.add_argument(
        "--runs", type=int, default=2, help="runs (and reads of each kind) per side and repeat"
    )
    cli.add_repeats(parser, 15)
    cli.add_warmup(parser, 1, "untimed runs per side first")
    cli.add_servers(parser)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SATCHEL_BENCH_POSTGRES_URL") or None,
        help="a postgresql:// URL (default: $SATCHEL_BENCH_POSTGRES_URL): also run the SDKs' "
        "database services on PostgreSQL, in a throwaway database of that server",
    )
    cli.add_output(parser, check=None)
    args = parser.parse_args(argv)
    if args.postgres is not None:
        if not args.postgres.startswith(("postgresql://", "postgres://")):
            parser.error("--postgres: must be a postgresql:// URL")
        POSTGRES.url = args.postgres
    workloads = cli.parse_list(parser, args.workloads, "--workloads", WORKLOADS)
    backends = cli.parse_list(parser, args.backends, "--backends", BACKENDS)
    if min(args.repeats, args.runs) < 1:
        parser.error("--repeats and --runs must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")

    with contextlib.ExitStack() as stack:
        servers = start(stack, backends, args.url, args.uri, args.database)
        if POSTGRES.url is not None:
            from satchel.settings import redact_url

            servers.described["postgresql"] = redact_url(POSTGRES.url)
        measured: dict[str, Any] = {}
        for workload in workloads:
            runs = asyncio.run(
                measure(workload, servers, backends, args.runs, args.repeats, args.warmup)
            )
            measured[workload] = {
                **summarise(workload, backends, runs),
                "repeats_ms": rounded(runs, 3),
            }

    result: dict[str, Any] = {
        "machine": cli.machine(load_average=True),
        "versions": cli.versions(VERSIONS),
        "servers": servers.described,
        "parameters": {
            "repeats": args.repeats,
            "runs": args.runs,
            "warmup": args.warmup,
            "events": EVENTS,
            "recent_events": RECENT,
            "saves": SAVES,
            "listed": LISTED,
            "page": PAGE,
        },
        "workloads": measured,
    }
    if args.json:
        cli.print_json(result)
        return 0

    m = result["machine"]
    print(cli.machine_line(m))
    print(cli.versions_line(result["versions"]))
    for backend, where in servers.described.items():
        print(f"{backend}: {where}")
    print(cli.method_line("ms", args.repeats, "ratios", "every side"))
    titles = {
        "adk": f"ADK: create + {EVENTS} append_event (run), get_session(num_recent_events="
        f"{RECENT}) (get), {LISTED} sessions listed (satchel: pages of {PAGE}; ADK: one call)",
        "a2a": f"A2A: {SAVES + 1} saves of a growing task (run), get, {LISTED} tasks listed "
        f"in pages of {PAGE}",
    }
    for workload, r in measured.items():
        print()
        print(titles[workload])
        cli.print_sides(r["sides"], OP_LABELS, OP_LABELS, 34)
        for backend, by_peer in r["comparisons"].items():
            for peer, ratios in by_peer.items():
                text = ", ".join(f"{OP_LABELS[op]} {v:.2f}x" for op, v in ratios.items())
                print(f"satchel {backend} / {peer}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
