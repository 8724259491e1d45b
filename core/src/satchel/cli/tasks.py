"""``satchel tasks``: list, show and remove stored agent tasks, whatever their model.

Every command goes through a :class:`~satchel.stores.tasks.TaskStore` of
:class:`~satchel.stores.tasks.AnyTask` (the tasks read as the JSON they were stored as), so
these commands need no import of the task model and share the store's naming and ordering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import (
    Duration,
    open_handle,
    process_local_hint,
    remove_one,
    store_names,
)
from satchel.cli.output import (
    EPILOG,
    clip,
    compact,
    confirm,
    dry_run_option,
    dumps,
    echo_lines,
    json_option,
    printable,
    reporting_errors,
    run,
    show_value,
    table,
    when,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.handle import Satchel
    from satchel.stores.base import Versioned
    from satchel.stores.tasks import AnyTask, TaskStore

__all__ = ["tasks"]


_store_option = click.option(
    "--store",
    default="tasks",
    show_default=True,
    help="The task store's name (as in store.tasks(Model, name=...)).",
)
_status_field_option = click.option(
    "--status-field", default="status", show_default=True, help="The field holding the status."
)


@cli.group(epilog=EPILOG)
def tasks() -> None:
    """Inspect and remove stored agent tasks, whatever their model.

    Tasks are read as plain JSON, so these commands need no import of your task model.
    """


def _usage_error(message: str, as_json: bool) -> None:
    """A usage error of satchel's own (not click's): one line, exit 2, and under --json the
    error document, as for every failure."""
    from satchel.errors import InvalidArgument

    with reporting_errors(as_json):
        raise InvalidArgument(message)


def _task_store(handle: Satchel, store: str, status_field: str = "status") -> TaskStore[AnyTask]:
    from satchel.stores.tasks import AnyTask
    from satchel.validation import check_name

    check_name(store, "--store")
    return handle.tasks(AnyTask, name=store, status_field=status_field)


def _fields(found: Versioned[AnyTask]) -> dict[str, Any]:
    """The task's JSON fields, in the order they were stored."""
    fields: dict[str, Any] = found.value.model_dump(mode="json")
    return fields


def _task_summary(found: Versioned[AnyTask], status_field: str) -> dict[str, Any]:
    value = _fields(found)
    items = value.get("items")
    return {
        "task_id": found.key,
        "status": value.get(status_field),
        "user_id": value.get("user_id"),
        "session_id": value.get("session_id"),
        "items": len(items) if isinstance(items, list) else None,
        "version": found.version,
        "created_at": found.created_at,
        "updated_at": found.updated_at,
        "expires_at": found.expires_at,
    }


def _summary_rows(found: list[dict[str, Any]]) -> list[str]:
    rows = [
        [
            t["task_id"],
            show_value(t["status"]) if t["status"] is not None else "-",
            str(t["items"]) if t["items"] is not None else "-",
            str(t["user_id"] or "-"),
            str(t["session_id"] or "-"),
            when(t["updated_at"]),
            str(t["version"]),
        ]
        for t in found
    ]
    header = ["TASK_ID", "STATUS", "ITEMS", "USER", "SESSION", "UPDATED", "VERSION"]
    return table(rows, header, right=[2, 6], indent="")


# --------------------------------------------------------------------------------------
# satchel tasks ls


@tasks.command("ls", epilog=EPILOG)
@_store_option
@click.option(
    "--status",
    multiple=True,
    help="Only tasks with this status (exact, e.g. Running); repeat for any of several.",
)
@_status_field_option
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True, help="At most."
)
@click.option("--cursor", help="The next-page cursor a previous run printed.")
@json_option
def tasks_ls(
    store: str,
    status: tuple[str, ...],
    status_field: str,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """List tasks, most recently updated first."""
    run(_tasks_ls(store, list(status), status_field, limit, cursor, as_json), as_json)


async def _tasks_ls(
    store: str,
    statuses: list[str],
    status_field: str,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        task_store = _task_store(handle, store, status_field)
        page = await task_store.list_versioned(status=statuses or None, limit=limit, cursor=cursor)
        namespace, hint = handle.namespace, process_local_hint(handle)
    found = [_task_summary(task, status_field) for task in page.items]
    if as_json:
        click.echo(
            dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "tasks": found,
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    if not found:
        click.echo(f"no tasks in task store {store!r} (namespace {namespace!r}){hint}")
        return
    echo_lines(_summary_rows(found))
    if page.next_cursor is not None:
        click.echo(f"next page: --cursor {page.next_cursor}")


# --------------------------------------------------------------------------------------
# satchel tasks show


@tasks.command("show", epilog=EPILOG)
@click.argument("task_id", required=False)
@click.option("--request-id", help="Find the task by a request_id of one of its items instead.")
@_store_option
@json_option
def tasks_show(task_id: str | None, request_id: str | None, store: str, as_json: bool) -> None:
    """Show one task: its fields, its items and its record metadata (exit 1 when missing).

    With --request-id: the task TaskStore.load_by_request_id finds (the most recently
    updated one when several carry it).
    """
    if (task_id is None) == (request_id is None):
        _usage_error("TASK_ID, --request-id: give one of them", as_json)
    run(_tasks_show(task_id, request_id, store, as_json), as_json)


async def _tasks_show(
    task_id: str | None, request_id: str | None, store: str, as_json: bool
) -> None:
    from satchel.errors import NotFound
    from satchel.stores.tasks import REQUEST_ID_INDEX

    async with open_handle() as handle:
        task_store = _task_store(handle, store)
        found: Versioned[AnyTask] | None
        if task_id is not None:
            found = await task_store.load_versioned(task_id)
            wanted = f"task {task_id!r}"
        else:
            assert request_id is not None
            matches = await task_store.find_versioned(REQUEST_ID_INDEX, request_id, limit=1)
            found = matches[0] if matches else None
            wanted = f"a task with request_id {request_id!r}"
        if found is None:
            raise NotFound(
                f"no {wanted} in task store {store!r} (namespace {handle.namespace!r})"
                + process_local_hint(handle)
            )
        namespace = handle.namespace
    if as_json:
        click.echo(
            dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "task_id": found.key,
                    "version": found.version,
                    "created_at": found.created_at,
                    "updated_at": found.updated_at,
                    "expires_at": found.expires_at,
                    "task": _fields(found),
                }
            )
        )
        return
    _print_task(found)


def _print_task(found: Versioned[AnyTask]) -> None:
    value = _fields(found)
    scalars = [[k, show_value(v)] for k, v in value.items() if not isinstance(v, (dict, list))]
    echo_lines(table(scalars, indent=""))
    items = value.get("items")
    if isinstance(items, list):
        click.echo("")
        click.echo(f"items ({len(items)})")
        rows = []
        for number, item in enumerate(items, 1):
            entry = item if isinstance(item, dict) else {}
            content = entry.get("item")
            content = content if isinstance(content, dict) else {}
            text = show_value(content.get("content", "")).replace("\n", " ")
            if entry.get("pending_tool_calls"):
                text += f"  [pending tool calls: {compact(entry['pending_tool_calls'])}]"
            rows.append(
                [
                    str(number),
                    str(entry.get("request_id", "-")),
                    str(entry.get("role", "-")),
                    str(content.get("content_type", "-")),
                    clip(text),
                ]
            )
        echo_lines(table(rows, ["#", "REQUEST_ID", "ROLE", "TYPE", "CONTENT"], right=[0]))
    others = [[k, clip(compact(v))] for k, v in value.items() if isinstance(v, (dict, list))]
    others = [row for row in others if row[0] != "items"]
    if others:
        click.echo("")
        echo_lines(table(others, indent=""))
    click.echo("")
    click.echo("record")
    metadata = [
        ["version", str(found.version)],
        ["created_at", when(found.created_at)],
        ["updated_at", when(found.updated_at)],
        ["expires_at", when(found.expires_at) if found.expires_at else "never"],
    ]
    echo_lines(table(metadata))


# --------------------------------------------------------------------------------------
# satchel tasks rm


@tasks.command("rm", epilog=EPILOG)
@click.argument("task_id")
@_store_option
@click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Remove the task only if it is at this version (else exit 5, nothing removed).",
)
@yes_option
@dry_run_option
@json_option
def tasks_rm(
    task_id: str,
    store: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove one task (exit 1 when there is none).

    Asks for confirmation unless --yes. The version removed is the one shown (or
    --expected-version): a task changed in between is left alone, with exit 5.
    """
    run(_tasks_rm(task_id, store, expected_version, yes, dry_run, as_json), as_json)


async def _tasks_rm(
    task_id: str,
    store: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        task_store = _task_store(handle, store)
        found = await task_store.load_versioned(task_id)
        where = f"task store {store!r} (namespace {handle.namespace!r})"
        version = None if found is None else found.version
        shown = f"task {task_id!r} (version {version})"
        await remove_one(
            version=version,
            expected_version=expected_version,
            missing=f"no task {task_id!r} in {where}" + process_local_hint(handle),
            subject=f"task {task_id!r}",
            shown=shown,
            question=f"Remove {shown} from {where}?",
            delete=lambda v: task_store.delete(task_id, expected_version=v),
            document={
                "store": store,
                "namespace": handle.namespace,
                "task_id": task_id,
                "version": version,
                "updated_at": None if found is None else found.updated_at,
            },
            flag="removed",
            verb="remove",
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


# --------------------------------------------------------------------------------------
# satchel tasks cleanup


@tasks.command("cleanup", epilog=EPILOG)
@click.option(
    "--older-than",
    "older_than",
    type=Duration(),
    required=True,
    metavar="DURATION",
    help="Remove tasks not updated for this long: 7d, 12h, 90m, 30s, 2w, 1d12h, or seconds.",
)
@click.option(
    "--status",
    multiple=True,
    help="Only tasks with this status; repeat for any of several "
    "[default: Completed, Failed, Canceled].",
)
@click.option("--any-status", is_flag=True, help="Whatever their status.")
@_status_field_option
@_store_option
@yes_option
@dry_run_option
@json_option
def tasks_cleanup(
    older_than: float,
    status: tuple[str, ...],
    any_status: bool,
    status_field: str,
    store: str,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove finished tasks not updated for --older-than (TaskStore.cleanup's rule).

    Lists what it would remove and asks for confirmation unless --yes. A task updated in
    between is left alone (each removal is conditional on the version listed).
    """
    if any_status and status:
        _usage_error("--status, --any-status: give one of them, not both", as_json)
    run(
        _tasks_cleanup(
            older_than, list(status), any_status, status_field, store, yes, dry_run, as_json
        ),
        as_json,
    )


async def _tasks_cleanup(
    older_than: float,
    statuses: list[str],
    any_status: bool,
    status_field: str,
    store: str,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from datetime import timedelta

    from satchel.errors import Conflict, NotFound
    from satchel.stores.tasks import FINISHED_STATUSES

    wanted: list[str] | None = None if any_status else statuses or list(FINISHED_STATUSES)
    async with open_handle() as handle:
        task_store = _task_store(handle, store, status_field)
        stale = await task_store.stale(timedelta(seconds=older_than), statuses=wanted)
        where = f"task store {store!r} (namespace {handle.namespace!r})"
        summaries = [_task_summary(task, status_field) for task in stale]
        document: dict[str, Any] = {
            "store": store,
            "namespace": handle.namespace,
            "older_than_seconds": older_than,
            "statuses": wanted,
            "dry_run": dry_run,
            "tasks": summaries,
            "removed": [],
            "skipped": [],
        }
        if not as_json:
            if summaries:
                echo_lines(_summary_rows(summaries))
            else:
                click.echo(f"no task to remove in {where}")
        if dry_run or not stale:
            if as_json:
                click.echo(dumps(document))
            elif stale:
                click.echo(f"would remove {_tasks(len(stale))}")
            return
        confirm(f"Remove these {_tasks(len(stale))} from {where}?", yes=yes, as_json=as_json)
        for task in stale:
            try:
                await task_store.delete(task.key, expected_version=task.version)
                document["removed"].append(task.key)
            except (Conflict, NotFound):
                document["skipped"].append(task.key)
    if as_json:
        click.echo(dumps(document))
        return
    click.echo(f"removed {_tasks(len(document['removed']))}")
    if document["skipped"]:
        click.echo(
            f"left {_tasks(len(document['skipped']))} changed or removed meanwhile: "
            + ", ".join(document["skipped"])
        )


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


# --------------------------------------------------------------------------------------
# satchel tasks stores


@tasks.command("stores", epilog=EPILOG)
@json_option
def tasks_stores(as_json: bool) -> None:
    """List the task stores that hold at least one task."""
    run(_tasks_stores(as_json), as_json)


async def _tasks_stores(as_json: bool) -> None:
    async with open_handle() as handle:
        names = await store_names(handle, "task")
        namespace = handle.namespace
    if as_json:
        click.echo(dumps({"namespace": namespace, "stores": names}))
        return
    for name in names:
        click.echo(printable(name))
