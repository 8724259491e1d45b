"""``satchel sessions``: list, show and remove session snapshots, whatever their model.

Every command goes through a :class:`~satchel.stores.sessions.SessionStore` of
:class:`~satchel.stores.sessions.AnySession` (the snapshots read as the JSON they were
stored as).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import open_handle, process_local_hint, remove_one, store_names
from satchel.cli.output import (
    EPILOG,
    dry_run_option,
    dumps,
    echo_lines,
    json_option,
    printable,
    run,
    show_value,
    table,
    when,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.handle import Satchel
    from satchel.stores.sessions import AnySession, SessionStore

__all__ = ["sessions"]


_store_option = click.option(
    "--store",
    default="sessions",
    show_default=True,
    help="The session store's name (as in store.sessions(Model, name=...)).",
)


@cli.group(epilog=EPILOG)
def sessions() -> None:
    """Inspect and remove session snapshots, whatever their model.

    Snapshots are read as plain JSON, so these commands need no import of your model.
    """


def _session_store(handle: Satchel, store: str) -> SessionStore[AnySession]:
    from satchel.stores.sessions import AnySession
    from satchel.validation import check_name

    check_name(store, "--store")
    return handle.sessions(AnySession, name=store)


@sessions.command("ls", epilog=EPILOG)
@_store_option
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=100, show_default=True, help="At most."
)
@click.option("--cursor", help="The next-page cursor a previous run printed.")
@json_option
def sessions_ls(store: str, limit: int, cursor: str | None, as_json: bool) -> None:
    """List session ids, sorted, one per line (SessionStore.list)."""
    run(_sessions_ls(store, limit, cursor, as_json), as_json)


async def _sessions_ls(store: str, limit: int, cursor: str | None, as_json: bool) -> None:
    async with open_handle() as handle:
        page = await _session_store(handle, store).list(limit=limit, cursor=cursor)
        namespace, hint = handle.namespace, process_local_hint(handle)
    if as_json:
        click.echo(
            dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "sessions": page.items,
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    # stdout holds the ids alone, one per line (a script reads them); the rest to stderr
    if not page.items:
        click.echo(
            f"no sessions in session store {store!r} (namespace {namespace!r}){hint}", err=True
        )
        return
    for session_id in page.items:
        click.echo(printable(session_id))
    if page.next_cursor is not None:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


@sessions.command("show", epilog=EPILOG)
@click.argument("session_id")
@_store_option
@json_option
def sessions_show(session_id: str, store: str, as_json: bool) -> None:
    """Show one snapshot and its record metadata (exit 1 when there is none)."""
    run(_sessions_show(session_id, store, as_json), as_json)


async def _sessions_show(session_id: str, store: str, as_json: bool) -> None:
    from satchel.errors import NotFound

    async with open_handle() as handle:
        found = await _session_store(handle, store).load_versioned(session_id)
        if found is None:
            raise NotFound(
                f"no session {session_id!r} in session store {store!r} (namespace "
                f"{handle.namespace!r})" + process_local_hint(handle)
            )
        namespace = handle.namespace
    value: dict[str, Any] = found.value.model_dump(mode="json")
    if as_json:
        click.echo(
            dumps(
                {
                    "store": store,
                    "namespace": namespace,
                    "session_id": found.key,
                    "version": found.version,
                    "created_at": found.created_at,
                    "updated_at": found.updated_at,
                    "expires_at": found.expires_at,
                    "session": value,
                }
            )
        )
        return
    echo_lines(table([[k, show_value(v)] for k, v in value.items()], indent=""))
    click.echo("")
    click.echo("record")
    metadata = [
        ["version", str(found.version)],
        ["created_at", when(found.created_at)],
        ["updated_at", when(found.updated_at)],
        ["expires_at", when(found.expires_at) if found.expires_at else "never"],
    ]
    echo_lines(table(metadata))


@sessions.command("rm", epilog=EPILOG)
@click.argument("session_id")
@_store_option
@click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Remove the snapshot only if it is at this version (else exit 5, nothing removed).",
)
@yes_option
@dry_run_option
@json_option
def sessions_rm(
    session_id: str,
    store: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove one snapshot (exit 1 when there is none).

    Asks for confirmation unless --yes. The version removed is the one shown (or
    --expected-version): a snapshot saved in between is left alone, with exit 5.
    """
    run(_sessions_rm(session_id, store, expected_version, yes, dry_run, as_json), as_json)


async def _sessions_rm(
    session_id: str,
    store: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        session_store = _session_store(handle, store)
        found = await session_store.load_versioned(session_id)
        where = f"session store {store!r} (namespace {handle.namespace!r})"
        version = None if found is None else found.version
        shown = f"session {session_id!r} (version {version})"
        await remove_one(
            version=version,
            expected_version=expected_version,
            missing=f"no session {session_id!r} in {where}" + process_local_hint(handle),
            subject=f"session {session_id!r}",
            shown=shown,
            question=f"Remove {shown} from {where}?",
            delete=lambda v: session_store.delete(session_id, expected_version=v),
            document={
                "store": store,
                "namespace": handle.namespace,
                "session_id": session_id,
                "version": version,
                "updated_at": None if found is None else found.updated_at,
            },
            flag="removed",
            verb="remove",
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


@sessions.command("stores", epilog=EPILOG)
@json_option
def sessions_stores(as_json: bool) -> None:
    """List the session stores that hold at least one snapshot."""
    run(_sessions_stores(as_json), as_json)


async def _sessions_stores(as_json: bool) -> None:
    async with open_handle() as handle:
        names = await store_names(handle, "session")
        namespace = handle.namespace
    if as_json:
        click.echo(dumps({"namespace": namespace, "stores": names}))
        return
    for name in names:
        click.echo(printable(name))
