"""Benchmark of satchel's framework integrations against the backends a user would otherwise pick.

Two workloads, each run whole, on every side in the same run:

- **LangGraph, a 20-step graph run**: a compiled ``StateGraph`` whose state is a list of
  messages (``add_messages``), with two scripted nodes taking turns for 20 super-steps: an
  ``agent`` node that adds an ``AIMessage`` with a tool call and one that adds the tool's
  ``ToolMessage``, each about 1 KiB of text (see :func:`build_graph`); no model, no network.
  One run is ``await graph.ainvoke(...)`` on a fresh thread, with LangGraph's default
  durability (``"async"``: each checkpoint is written while the next step runs; the run ends
  when all are written): 22 checkpoints (the input, then one per step) and the nodes'
  pending writes. Reading the state back is timed too, on the threads the runs wrote:
  ``await graph.aget_state(config)`` (the latest checkpoint and its pending writes) and the
  whole ``graph.aget_state_history(config)`` (22 snapshots, newest first).

  Sides: ``SatchelSaver`` (satchel-langgraph) on memory, Redis and MongoDB, each on a handle
  from ``satchel.open()``; LangGraph's ``InMemorySaver``; ``AsyncSqliteSaver``
  (langgraph-checkpoint-sqlite) on a file in a temporary directory; ``AsyncRedisSaver``
  (langgraph-checkpoint-redis) on the same redis-server, which needs the RediSearch module
  (``FT.*`` commands) and on a plain redis-server fails at setup: the benchmark reports the
  error and leaves it out; ``MongoDBSaver`` (langgraph-checkpoint-mongodb, pymongo's blocking
  client, run in a thread by its async methods) on the same MongoDB server.

- **OpenAI Agents SDK, a 50-turn conversation**: per turn, ``await session.add_items([user
  item, assistant item])`` (about 1 KiB together, shaped as the Responses API's input items,
  see :func:`make_turn`), then ``await session.get_items(limit=20)``, the history ``Runner``
  reads before the next model call when the session's ``SessionSettings(limit=20)`` is set.
  One run builds a session for a fresh ``session_id`` and holds its 50 turns.

  Sides: ``SatchelSession`` (satchel-openai-agents) on memory, Redis and MongoDB; the SDK's
  ``SQLiteSession`` on a file in a temporary directory and on ``:memory:``; its
  ``RedisSession`` (``agents.extensions.memory``) on the same redis-server; and its
  ``MongoDBSession`` on the same MongoDB server, when the installed release ships it (else
  reported as missing).

Each satchel backend is compared with the peer a user would most naturally pick instead:
memory with ``InMemorySaver`` / ``SQLiteSession(":memory:")``, Redis with
langgraph-checkpoint-redis / ``RedisSession`` (with ``AsyncSqliteSaver`` on a file when
langgraph-checkpoint-redis cannot run on the server), MongoDB with langgraph-checkpoint-mongodb
/ ``MongoDBSession``. Before timing, every side runs the workload once and the benchmark
checks that they all read back the same messages (and the same number of checkpoints).

Each repeat times ``--graph-runs`` graph runs (then as many reads of each kind) or
``--conversations`` conversations on every side with ``time.perf_counter_ns``, all in one
event loop, after a warm-up of one run per side; the sides run back to back, in an order
that rotates from repeat to repeat, so that a busy moment of the machine weighs on all
alike. After every repeat (untimed) every side deletes the threads and sessions it wrote, so
that every repeat starts from the same stores. Times are the medians of ``--repeats``
repeats, in ms per run; the ratio of satchel over its peer is the median of each repeat's
own ratio, which a noisy machine moves far less than a ratio of two medians.

The benchmark starts its own servers as the other benchmarks do: a throwaway
``redis-server`` (from PATH) and a throwaway SecantusDB in a process of its own (see
``servers.py``). ``--url`` and ``--uri`` (or ``SATCHEL_BENCH_MONGODB_URI``) name servers to
use instead; there every side writes only keys under ``satchel-bench:`` and collections
whose names start with ``satchel-bench.`` (``SQLiteSession`` and ``AsyncSqliteSaver`` write
to a temporary directory), and the benchmark deletes them before and after. This is a
measurement, not a test: it prints the numbers (``--json``: as JSON). It sets no targets:
``--check`` makes it exit 1 when a satchel backend could not be compared with its most
natural peer (a read-back check that fails always exits 1).

    uv sync --all-groups --all-extras   # the peers are in the `bench` dependency group
    uv run python benchmarks/bench_integrations.py
    uv run python benchmarks/bench_integrations.py --workloads agents --repeats 31
    uv run python benchmarks/bench_integrations.py --backends memory,redis --json
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import cli
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from rounds import by_side, paired_ratio, rounded, side_names
from servers import MONGO_PREFIX, REDIS_PREFIX, Servers, open_handle, scratch, start
from sides import Side, Sides
from workload import prose

BACKENDS = ("memory", "redis", "mongodb")
WORKLOADS = ("langgraph", "agents")

#: Super-steps of a graph run, and messages of about 1 KiB the state gains per step.
STEPS = 20
#: Turns of a conversation, and the ``limit`` of the history read after each.
TURNS = 50
LIMIT = 20
#: Characters of text per graph message, and per conversation item (two items a turn).
MESSAGE_TEXT = 900
ITEM_TEXT = 400


# --------------------------------------------------------------------------------------
# the workloads


class State(TypedDict):
    """The graph's state: the conversation, as LangGraph's ``MessagesState`` keeps it."""

    messages: Annotated[list[AnyMessage], add_messages]


async def agent(state: State) -> dict[str, Any]:
    """The scripted model: an ``AIMessage`` that calls a tool."""
    n = len(state["messages"])
    call = {
        "id": f"call-{n:04d}",
        "name": "search_documents",
        "args": {"query": f"invoices of customer {n}", "limit": 5},
    }
    text = prose(f"Step {n}, thinking", MESSAGE_TEXT)
    return {"messages": [AIMessage(id=f"msg-{n:04d}", content=text, tool_calls=[call])]}


async def tools(state: State) -> dict[str, Any]:
    """The scripted tool: its answer to the last call."""
    n = len(state["messages"])
    call = state["messages"][-1].tool_calls[0]
    text = prose(f"Step {n}, found", MESSAGE_TEXT)
    return {"messages": [ToolMessage(id=f"msg-{n:04d}", content=text, tool_call_id=call["id"])]}


def after_tools(state: State) -> str:
    return END if len(state["messages"]) >= 1 + STEPS else "agent"


def build_graph() -> StateGraph[Any]:
    """A ``StateGraph`` of two scripted nodes taking turns for :data:`STEPS` super-steps:
    ``agent`` adds an ``AIMessage`` with a tool call, ``tools`` the tool's answer; each
    message carries :data:`MESSAGE_TEXT` characters of text and a fixed id."""
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_conditional_edges("tools", after_tools, ["agent", END])
    return builder


def graph_input() -> dict[str, Any]:
    return {"messages": [HumanMessage(id="msg-0000", content=prose("Question", MESSAGE_TEXT))]}


def make_turn(turn: int) -> list[dict[str, Any]]:
    """A turn's two input items, as the SDK keeps them: the user's message and the
    assistant's output message, about 1 KiB together as JSON."""
    return [
        {"role": "user", "content": prose(f"Turn {turn}, user", ITEM_TEXT)},
        {
            "id": f"msg_{turn:06d}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": prose(f"Turn {turn}, assistant", ITEM_TEXT),
                    "annotations": [],
                }
            ],
        },
    ]


# --------------------------------------------------------------------------------------
# the sides


def graph_side(name: str, checkpointer: Any) -> Side:
    graph = build_graph().compile(checkpointer=checkpointer)
    counter = itertools.count()
    threads: list[str] = []
    kept: list[str] = []
    tag = name.replace(" ", "-")

    def config(thread: str) -> Any:
        return {"configurable": {"thread_id": thread}}

    async def run(i: int) -> Any:
        thread = f"{tag}-{next(counter)}"
        threads.append(thread)
        return await graph.ainvoke(graph_input(), config(thread))

    async def state(i: int) -> Any:
        return await graph.aget_state(config(threads[i % len(threads)]))

    async def history(i: int) -> Any:
        return [s async for s in graph.aget_state_history(config(threads[i % len(threads)]))]

    async def reset() -> None:
        for thread in threads:
            await checkpointer.adelete_thread(thread)
        threads.clear()

    async def digest() -> Any:
        snapshot = await graph.aget_state(config(threads[-1]))
        messages = [(m.type, m.id, m.content) for m in snapshot.values["messages"]]
        steps = [s.metadata["step"] async for s in graph.aget_state_history(config(threads[-1]))]
        return {"messages": messages, "steps": steps, "next": snapshot.next}

    def keep() -> None:
        kept.extend(threads)
        threads.clear()

    # nothing to finish: the stores go with the servers, the temporary directory, the process
    reads = {"state": state, "history": history}
    return Side(name, run, reads, reset, digest, keep=keep)


def session_side(name: str, make: Callable[[str], Any], close: bool = False) -> Side:
    """``make(session_id)`` builds the side's session; ``close``: the session has a
    ``close()`` to call when done (untimed)."""
    counter = itertools.count()
    sessions: list[Any] = []
    kept: list[Any] = []
    tag = name.replace(" ", "-").replace("(", "").replace(")", "").replace(":", "")
    turns = [make_turn(t) for t in range(TURNS)]

    async def run(i: int) -> Any:
        session = make(f"{tag}-{next(counter)}")
        sessions.append(session)
        for items in turns:
            await session.add_items(items)
            await session.get_items(limit=LIMIT)
        return session

    async def release(session: Any) -> None:
        if close:
            result = session.close()
            if asyncio.iscoroutine(result):
                await result

    async def reset() -> None:
        for session in sessions:
            await session.clear_session()
            await release(session)
        sessions.clear()

    def keep() -> None:
        kept.extend(sessions)
        sessions.clear()

    async def finish() -> None:
        for session in kept:
            await release(session)
        kept.clear()

    async def digest() -> Any:
        return {"all": await sessions[-1].get_items(), "last": await sessions[-1].get_items(LIMIT)}

    return Side(name, run, {}, reset, digest, keep=keep, finish=finish)


# --------------------------------------------------------------------------------------
# the sides of each workload


async def langgraph_sides(
    stack: contextlib.AsyncExitStack, servers: Servers, backends: list[str], directory: str
) -> Sides:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from satchel_langgraph import SatchelSaver

    out = Sides()
    for backend in backends:
        handle = open_handle(backend, servers, "lgs")
        stack.push_async_callback(handle.close)
        out.sides.append(graph_side(f"satchel {backend}", SatchelSaver(store=handle)))
    if "memory" in backends:
        out.sides.append(graph_side("InMemorySaver", InMemorySaver()))
    sqlite = await stack.enter_async_context(
        AsyncSqliteSaver.from_conn_string(os.path.join(directory, "checkpoints.sqlite"))
    )
    out.sides.append(graph_side("AsyncSqliteSaver (file)", sqlite))
    if "redis" in backends:
        try:
            from langgraph.checkpoint.redis.aio import AsyncRedisSaver

            saver = await stack.enter_async_context(
                AsyncRedisSaver.from_conn_string(
                    servers.redis_url,
                    checkpoint_prefix=f"{REDIS_PREFIX}lgr:checkpoint",
                    checkpoint_write_prefix=f"{REDIS_PREFIX}lgr:checkpoint_write",
                )
            )
            await saver.asetup()
            out.sides.append(graph_side("AsyncRedisSaver", saver))
        except Exception as exc:
            out.unable("AsyncRedisSaver", exc)
    if "mongodb" in backends:
        try:
            from langgraph.checkpoint.mongodb import MongoDBSaver
            from pymongo import MongoClient

            client: Any = MongoClient(servers.mongodb_uri)
            stack.callback(client.close)
            out.sides.append(
                graph_side(
                    "MongoDBSaver",
                    MongoDBSaver(
                        client,
                        db_name=servers.database,
                        checkpoint_collection_name=f"{MONGO_PREFIX}lgm.checkpoints",
                        writes_collection_name=f"{MONGO_PREFIX}lgm.writes",
                    ),
                )
            )
        except Exception as exc:
            out.unable("MongoDBSaver", exc)
    return out


async def agents_sides(
    stack: contextlib.AsyncExitStack, servers: Servers, backends: list[str], directory: str
) -> Sides:
    from agents.memory import SQLiteSession

    from satchel_openai_agents import SatchelSession

    out = Sides()
    for backend in backends:
        handle = open_handle(backend, servers, "oas")
        stack.push_async_callback(handle.close)
        out.sides.append(
            session_side(
                f"satchel {backend}",
                lambda sid, handle=handle: SatchelSession(sid, store=handle, ttl=None),
            )
        )
    path = os.path.join(directory, "sessions.sqlite")
    out.sides.append(
        session_side("SQLiteSession (file)", lambda sid: SQLiteSession(sid, path), close=True)
    )
    if "memory" in backends:
        out.sides.append(
            session_side("SQLiteSession (:memory:)", lambda sid: SQLiteSession(sid), close=True)
        )
    if "redis" in backends:
        try:
            from agents.extensions.memory import RedisSession
            from redis.asyncio import Redis

            redis = Redis.from_url(servers.redis_url)
            stack.push_async_callback(redis.aclose)
            out.sides.append(
                session_side(
                    "RedisSession",
                    lambda sid: RedisSession(
                        sid, redis_client=redis, key_prefix=f"{REDIS_PREFIX}oar"
                    ),
                )
            )
        except Exception as exc:
            out.unable("RedisSession", exc)
    if "mongodb" in backends:
        try:
            from agents.extensions.memory import MongoDBSession
            from pymongo import AsyncMongoClient

            mongo: AsyncMongoClient[Any] = AsyncMongoClient(servers.mongodb_uri)
            stack.push_async_callback(mongo.close)
            out.sides.append(
                session_side(
                    "MongoDBSession",
                    lambda sid: MongoDBSession(
                        sid,
                        client=mongo,
                        database=servers.database,
                        sessions_collection=f"{MONGO_PREFIX}oam.sessions",
                        messages_collection=f"{MONGO_PREFIX}oam.messages",
                    ),
                )
            )
        except Exception as exc:  # not shipped by this release, or cannot run here
            out.unable("MongoDBSession", exc)
    return out


#: Each satchel backend's most natural peer, by workload, in order of preference (the first
#: that ran is the one compared with).
PEERS = {
    "langgraph": {
        "memory": ["InMemorySaver"],
        "redis": ["AsyncRedisSaver", "AsyncSqliteSaver (file)"],
        "mongodb": ["MongoDBSaver", "AsyncSqliteSaver (file)"],
    },
    "agents": {
        "memory": ["SQLiteSession (:memory:)"],
        "redis": ["RedisSession", "SQLiteSession (file)"],
        "mongodb": ["MongoDBSession", "SQLiteSession (file)"],
    },
}
#: Every satchel side is also compared with this one, the peer that runs everywhere.
COMMON = {"langgraph": "AsyncSqliteSaver (file)", "agents": "SQLiteSession (file)"}


async def measure(
    workload: str,
    servers: Servers,
    backends: list[str],
    iterations: int,
    repeats: int,
    warmup: int,
    stored: int,
) -> dict[str, Any]:
    async with scratch(servers, "satchel-bench-integrations-") as (stack, directory):
        build = langgraph_sides if workload == "langgraph" else agents_sides
        sides = await build(stack, servers, backends, directory)
        await sides.check()
        try:
            await sides.store(stored)
            runs = await sides.run(iterations, repeats, warmup)
        finally:
            await sides.finish()
    return {"runs": runs, "unavailable": sides.unavailable}


def summarise(workload: str, backends: list[str], m: dict[str, Any]) -> dict[str, Any]:
    runs: dict[str, list[float]] = m["runs"]
    ops = sorted({name.split(" ", 1)[0] for name in runs}, key=["run", "state", "history"].index)
    names = side_names(runs)
    sides = by_side(runs, ops)
    comparisons: dict[str, Any] = {}
    for backend in backends:
        ours = f"satchel {backend}"
        tried = PEERS[workload][backend]
        peer = next((p for p in tried if p in names), None)
        entry: dict[str, Any] = {
            "peer": peer,
            "not_run": {p: m["unavailable"][p] for p in tried if p in m["unavailable"]},
        }
        for label, other in (("ratio", peer), ("ratio_over_common", COMMON[workload])):
            if other is None or other not in names:
                continue
            entry[label] = {
                op: round(paired_ratio(runs[f"{op} {ours}"], runs[f"{op} {other}"]), 3)
                for op in ops
            }
        comparisons[backend] = entry
    return {"sides": sides, "comparisons": comparisons, "unavailable": m["unavailable"]}


#: The distributions whose versions the report gives.
VERSIONS = (
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-redis",
    "langgraph-checkpoint-mongodb",
    "openai-agents",
    "redis",
    "hiredis",
    "pymongo",
    "aiosqlite",
)

#: Runs per repeat, by workload.
ITERATIONS = {"langgraph": 2, "agents": 2}
OP_LABELS = {"run": "run", "state": "get_state", "history": "history"}


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    cli.add_list(parser, "--workloads", WORKLOADS, "comma-separated", "both")
    cli.add_list(parser, "--backends", BACKENDS, "satchel's backends (and their peers)", "all")
    parser.add_argument(
        "--graph-runs",
        type=int,
        default=ITERATIONS["langgraph"],
        help="graph runs (and reads of each kind) per side and repeat",
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=ITERATIONS["agents"],
        help="conversations per side and repeat",
    )
    cli.add_repeats(parser, 15)
    cli.add_warmup(parser, 1, "untimed runs per side first")
    parser.add_argument(
        "--stored-threads",
        type=int,
        default=0,
        help="runs (threads, sessions) every side stores before timing and keeps throughout "
        "(default: 0, every repeat starts from empty stores)",
    )
    cli.add_servers(parser)
    cli.add_output(parser, check="exit 1 when a satchel side has no peer to compare")
    args = parser.parse_args(argv)
    workloads = cli.parse_list(parser, args.workloads, "--workloads", WORKLOADS)
    backends = cli.parse_list(parser, args.backends, "--backends", BACKENDS)
    if min(args.repeats, args.graph_runs, args.conversations) < 1:
        parser.error("--repeats, --graph-runs and --conversations must be at least 1")
    if args.warmup < 0 or args.stored_threads < 0:
        parser.error("--warmup and --stored-threads must be at least 0")

    with contextlib.ExitStack() as stack:
        servers = start(stack, backends, args.url, args.uri, args.database)
        measured: dict[str, Any] = {}
        for workload in workloads:
            iterations = args.graph_runs if workload == "langgraph" else args.conversations
            m = asyncio.run(
                measure(
                    workload,
                    servers,
                    backends,
                    iterations,
                    args.repeats,
                    args.warmup,
                    args.stored_threads,
                )
            )
            measured[workload] = {
                "runs_per_repeat": iterations,
                **summarise(workload, backends, m),
                # every repeat's figure, in the order taken: ms per run or read
                "repeats_ms": rounded(m["runs"], 3),
            }

    no_peer = [
        f"{workload} {backend}"
        for workload, r in measured.items()
        for backend, c in r["comparisons"].items()
        if c["peer"] is None or c["peer"] != PEERS[workload][backend][0]
    ]
    result = {
        "machine": cli.machine(load_average=True),
        "versions": cli.versions(VERSIONS),
        "servers": servers.described,
        "parameters": {
            "repeats": args.repeats,
            "warmup": args.warmup,
            "stored_threads": args.stored_threads,
            "steps": STEPS,
            "turns": TURNS,
            "limit": LIMIT,
        },
        "workloads": measured,
    }
    code = 1 if (args.check and no_peer) else 0
    if args.json:
        cli.print_json(result)
        return code

    m = result["machine"]
    print(cli.machine_line(m))
    print(cli.versions_line(result["versions"]))
    for backend, where in servers.described.items():
        print(f"{backend}: {where}")
    print(cli.method_line("ms per run", args.repeats, "ratios", "every side"))
    titles = {
        "langgraph": f"LangGraph: a {STEPS}-step graph run (and reading its state back)",
        "agents": f"OpenAI Agents SDK: a {TURNS}-turn conversation (add_items, "
        f"get_items(limit={LIMIT}) per turn)",
    }
    for workload, r in measured.items():
        print()
        stored = f", {args.stored_threads} more stored" if args.stored_threads else ""
        print(f"{titles[workload]}; {r['runs_per_repeat']} per side and repeat{stored}")
        ops = [k.removesuffix("_ms") for k in next(iter(r["sides"].values()))]
        cli.print_sides(r["sides"], OP_LABELS, ops, 28)
        for name, error in r["unavailable"].items():
            print(f"{name:<28}  did not run: {error}")
        print()
        for backend, c in r["comparisons"].items():
            if c["peer"] is None:
                print(f"satchel {backend}: no peer ran")
                continue
            ratios = ", ".join(f"{OP_LABELS[op]} {v:.2f}x" for op, v in c["ratio"].items())
            line = f"satchel {backend} / {c['peer']}: {ratios}"
            if "ratio_over_common" in c and c["peer"] != COMMON[workload]:
                common = ", ".join(
                    f"{OP_LABELS[op]} {v:.2f}x" for op, v in c["ratio_over_common"].items()
                )
                line += f"  (/ {COMMON[workload]}: {common})"
            print(line)
    if no_peer:
        print()
        print("not compared with the most natural peer: " + ", ".join(no_peer))
    return code


if __name__ == "__main__":
    sys.exit(main())
