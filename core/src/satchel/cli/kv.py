"""``satchel kv``: read, write, query and remove key-value namespaces."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import open_handle, process_local_hint, remove_one
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
    table,
    when,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.backend import Page
    from satchel.stores.kv import Entry

__all__ = ["kv"]


@cli.group(epilog=EPILOG)
def kv() -> None:
    """Read and write key-value namespaces.

    Values are JSON. With the memory backend each command runs in its own process, so a
    value set by one command is gone by the next: use a shared backend (Redis, MongoDB).
    """


def _entry_document(namespace: str, entry: Entry) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "key": entry.key,
        "value": entry.value,
        "version": entry.version,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "expires_at": entry.expires_at,
    }


def _strict_json(text: str) -> Any:
    """``text`` parsed as JSON; :class:`ValueError` when it is not JSON, is ``NaN`` or
    ``Infinity``, or nests deeper than the parser can go."""

    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    try:
        return json.loads(text, parse_constant=reject)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _loose_json(text: str) -> Any:
    """``text`` parsed as JSON, or the string itself when it is not JSON."""
    try:
        return _strict_json(text)
    except ValueError:
        return text


@kv.command("get", epilog=EPILOG)
@click.argument("namespace")
@click.argument("key")
@json_option
def kv_get(namespace: str, key: str, as_json: bool) -> None:
    """Print the value under KEY as JSON (exit 1 when there is none).

    With --json: the value with its version and timestamps.
    """
    run(_kv_get(namespace, key, as_json), as_json)


async def _kv_get(namespace: str, key: str, as_json: bool) -> None:
    from satchel.errors import NotFound

    async with open_handle() as handle:
        entry = await handle.kv(namespace).get_entry(key)
        if entry is None:
            raise NotFound(
                f"no value under key {key!r} in KV namespace {namespace!r}"
                + process_local_hint(handle)
            )
    if as_json:
        click.echo(dumps(_entry_document(namespace, entry)))
    else:
        click.echo(dumps(entry.value))


@kv.command("set", epilog=EPILOG)
@click.argument("namespace")
@click.argument("key")
@click.argument("value")
@click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the value lives (default: SATCHEL_DEFAULT_TTL, else it never expires).",
)
@click.option(
    "--string",
    "as_string",
    is_flag=True,
    help="Store VALUE as a string, verbatim, instead of parsing it as JSON.",
)
@json_option
def kv_set(
    namespace: str, key: str, value: str, ttl: float | None, as_string: bool, as_json: bool
) -> None:
    """Store VALUE under KEY. VALUE is JSON ('{"step": 5}', '42', '"text"', 'true');
    text that is not JSON is a usage error unless --string is given."""
    from satchel.errors import InvalidArgument

    parsed: Any = value
    if not as_string:
        # a usage error of satchel's own: one line, and under --json the error document
        with reporting_errors(as_json):
            try:
                parsed = _strict_json(value)
            except ValueError as exc:
                raise InvalidArgument(
                    f"VALUE: {clip(repr(value))} is not JSON ({exc}); pass --string to store it "
                    "as a string"
                ) from None
    run(_kv_set(namespace, key, parsed, ttl, as_json), as_json)


async def _kv_set(namespace: str, key: str, value: Any, ttl: float | None, as_json: bool) -> None:
    from satchel.stores.base import DEFAULT

    async with open_handle() as handle:
        version = await handle.kv(namespace).set(key, value, ttl=DEFAULT if ttl is None else ttl)
        effective_ttl = ttl if ttl is not None else handle.settings.default_ttl
    if as_json:
        click.echo(
            dumps({"namespace": namespace, "key": key, "version": version, "ttl": effective_ttl})
        )
    else:
        expiry = f", expires in {effective_ttl:g} s" if effective_ttl is not None else ""
        click.echo(f"set {key!r} in KV namespace {namespace!r}: version {version}{expiry}")


@kv.command("del", epilog=EPILOG)
@click.argument("namespace")
@click.argument("key")
@click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Delete only if the value is at this version (else exit 5, nothing deleted).",
)
@yes_option
@dry_run_option
@json_option
def kv_del(
    namespace: str,
    key: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete the value under KEY (exit 1 when there is none).

    Asks for confirmation unless --yes. The version deleted is the one shown (or
    --expected-version): a value written in between is left alone, with exit 5.
    """
    run(_kv_del(namespace, key, expected_version, yes, dry_run, as_json), as_json)


async def _kv_del(
    namespace: str,
    key: str,
    expected_version: int | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        store = handle.kv(namespace)
        entry = await store.get_entry(key)
        version = None if entry is None else entry.version
        await remove_one(
            version=version,
            expected_version=expected_version,
            missing=f"no value under key {key!r} in KV namespace {namespace!r}"
            + process_local_hint(handle),
            subject=f"the value under key {key!r}",
            shown=f"{key!r} (version {version}) from KV namespace {namespace!r}",
            delete=lambda v: store.delete(key, expected_version=v),
            document={"namespace": namespace, "key": key, "version": version},
            flag="deleted",
            verb="delete",
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


@kv.command("clear", epilog=EPILOG)
@click.argument("namespace")
@yes_option
@dry_run_option
@json_option
def kv_clear(namespace: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Delete every value in NAMESPACE (KVStore.clear).

    Asks for confirmation unless --yes; --dry-run lists the keys it would delete. A value
    written while it runs may go too: the namespace is dropped whole.
    """
    run(_kv_clear(namespace, yes, dry_run, as_json), as_json)


async def _kv_clear(namespace: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    async with open_handle() as handle:
        store = handle.kv(namespace)
        keys = await store.keys()
        document: dict[str, Any] = {
            "namespace": namespace,
            "dry_run": dry_run,
            "keys": keys,
            "deleted": 0,
        }
        if not keys:
            hint = process_local_hint(handle)
            if as_json:
                click.echo(dumps(document))
            else:
                click.echo(f"KV namespace {namespace!r} holds no values{hint}")
            return
        if dry_run:
            if as_json:
                click.echo(dumps(document))
            else:
                for key in keys:
                    click.echo(printable(key))
                click.echo(f"would delete {_values(len(keys))} from KV namespace {namespace!r}")
            return
        confirm(
            f"Delete all {_values(len(keys))} of KV namespace {namespace!r}?",
            yes=yes,
            as_json=as_json,
        )
        document["deleted"] = await store.clear()
    if as_json:
        click.echo(dumps(document))
    else:
        click.echo(f"deleted {_values(document['deleted'])} from KV namespace {namespace!r}")


def _values(count: int) -> str:
    return f"{count} value" if count == 1 else f"{count} values"


@kv.command("keys", epilog=EPILOG)
@click.argument("namespace")
@click.argument("pattern", default="*")
@json_option
def kv_keys(namespace: str, pattern: str, as_json: bool) -> None:
    """List the keys matching the glob PATTERN (default '*'), sorted, one per line.

    The pattern language is Redis's: * any run, ? one character, [abc] a set, and a
    backslash escapes the next character.
    """
    run(_kv_keys(namespace, pattern, as_json), as_json)


async def _kv_keys(namespace: str, pattern: str, as_json: bool) -> None:
    async with open_handle() as handle:
        keys = await handle.kv(namespace).keys(pattern)
        hint = process_local_hint(handle)
    if as_json:
        click.echo(dumps({"namespace": namespace, "pattern": pattern, "keys": keys}))
        return
    for key in keys:
        click.echo(printable(key))
    if not keys:
        click.echo(f"no keys match {pattern!r} in KV namespace {namespace!r}{hint}", err=True)


@kv.command("namespaces", epilog=EPILOG)
@json_option
def kv_namespaces(as_json: bool) -> None:
    """List the KV namespaces that hold at least one value."""
    run(_kv_namespaces(as_json), as_json)


async def _kv_namespaces(as_json: bool) -> None:
    async with open_handle() as handle:
        names = await handle.namespaces()
    if as_json:
        click.echo(dumps({"namespaces": names}))
        return
    for name in names:
        click.echo(printable(name))


def _parse_condition(text: str) -> tuple[str, str, Any]:
    from satchel.errors import InvalidQuery

    parts = text.split(None, 2)
    if len(parts) == 2 and parts[1] == "exists":
        return parts[0], "exists", True
    if len(parts) != 3:
        raise InvalidQuery(
            f"--where: {text!r}: write 'FIELD OP VALUE', e.g. 'step gte 3' or 'user.name eq alice'"
        )
    return parts[0], parts[1], _loose_json(parts[2])


@kv.command("query", epilog=EPILOG)
@click.argument("namespace")
@click.option(
    "--where",
    "-w",
    "where",
    multiple=True,
    metavar='"FIELD OP VALUE"',
    help="A condition; repeat for AND. OP: eq neq gt gte lt lte in contains startswith "
    "endswith exists. VALUE is parsed as JSON, else taken as a string.",
)
@click.option(
    "--order-by",
    "-o",
    "order_by",
    multiple=True,
    metavar="FIELD|-FIELD",
    help="Sort by FIELD (-FIELD: descending); repeat for more keys. Ties by key.",
)
@click.option(
    "--select", "-s", "select", multiple=True, metavar="FIELD", help="Return only these fields."
)
@click.option("--limit", "-n", type=click.IntRange(min=0), help="At most this many entries.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--cursor", help="The next-page cursor a previous run of the same query printed.")
@click.option(
    "--query",
    "-q",
    "document",
    metavar="JSON|@FILE",
    help="The whole query as a JSON query document (where, orderBy, select, limit, offset, "
    "cursor; see docs/queries.md), or @FILE to read it from a file ('@-': standard input); "
    "not with --where, --order-by, --select, --limit, --offset or --cursor.",
)
@click.option("--count", "count_only", is_flag=True, help="Print only how many entries match.")
@json_option
def kv_query(
    namespace: str,
    where: tuple[str, ...],
    order_by: tuple[str, ...],
    select: tuple[str, ...],
    limit: int | None,
    offset: int,
    cursor: str | None,
    document: str | None,
    count_only: bool,
    as_json: bool,
) -> None:
    """Query a namespace.

    Fields are dotted paths into the value (user.name, items.0.role), 'value' for a
    scalar value, or key, version, created_at, updated_at, expires_at.

    \b
    Examples:
      satchel kv query agent-state -w "step gte 3" -o -step -n 10
      satchel kv query agent-state -w 'model in ["small", "large"]' -s step
      satchel kv query agent-state -w "key startswith agent-" --count
      satchel kv query agent-state -q '{"where": [{"field": "value.step",
        "operator": "gte", "value": 3}], "orderBy": {"field": "value.step",
        "direction": "desc"}, "limit": 10}'
      satchel kv query agent-state -q @saved-query.json
    """
    from satchel.errors import InvalidArgument

    if document is not None:
        # given at all, whatever the value: --limit 0 and --offset 0 are given too
        context = click.get_current_context()
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("where", "order_by", "select", "limit", "offset", "cursor")
            if context.get_parameter_source(name) is not click.ParameterSource.DEFAULT
        ]
        # usage errors of satchel's own: one line, and under --json the error document
        with reporting_errors(as_json):
            if given:
                raise InvalidArgument(
                    f"--query: not with {', '.join(given)} (the document says it)"
                )
            text = _query_text(document)
        run(_kv_query_document(namespace, text, count_only, as_json), as_json)
        return
    with reporting_errors(as_json):
        conditions = [_parse_condition(text) for text in where]
    run(
        _kv_query(
            namespace,
            conditions,
            list(order_by),
            list(select) or None,
            limit,
            offset,
            cursor,
            count_only,
            as_json,
        ),
        as_json,
    )


def _query_text(document: str) -> str:
    """The JSON of ``--query``: the text itself, or the file (``-``: standard input) that
    ``@path`` names."""
    if not document.startswith("@"):
        return document
    from satchel.errors import InvalidArgument

    path = document[1:]
    try:
        with click.open_file(path, encoding="utf-8") as stream:
            return str(stream.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"--query: cannot read {path!r}: {exc}") from None


async def _kv_query_document(namespace: str, text: str, count_only: bool, as_json: bool) -> None:
    from satchel.query import parse_query

    query = parse_query(text)
    async with open_handle() as handle:
        store = handle.kv(namespace)
        if count_only:
            count = await store.count(query)
            click.echo(dumps({"namespace": namespace, "count": count}) if as_json else count)
            return
        page = await store.query(query)
    _print_page(namespace, page, as_json, in_document=True)


async def _kv_query(
    namespace: str,
    where: list[tuple[str, str, Any]],
    order_by: list[str],
    select: list[str] | None,
    limit: int | None,
    offset: int,
    cursor: str | None,
    count_only: bool,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        store = handle.kv(namespace)
        if count_only:
            count = await store.count(where)
            click.echo(dumps({"namespace": namespace, "count": count}) if as_json else count)
            return
        page = await store.query(
            where, order_by=order_by, select=select, limit=limit, offset=offset, cursor=cursor
        )
    _print_page(namespace, page, as_json)


def _print_page(
    namespace: str, page: Page[Entry], as_json: bool, *, in_document: bool = False
) -> None:
    """The page as JSON or as a table; the text ends with how to ask for the next page (for
    a --query document, which takes no --cursor, its "cursor" key)."""
    if as_json:
        click.echo(
            dumps(
                {
                    "namespace": namespace,
                    "items": [_entry_document(namespace, e) for e in page.items],
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    rows = [[e.key, str(e.version), when(e.updated_at), clip(compact(e.value))] for e in page.items]
    echo_lines(table(rows, ["KEY", "VERSION", "UPDATED", "VALUE"], right=[1], indent=""))
    noun = "entry" if len(page.items) == 1 else "entries"
    click.echo(f"{len(page.items)} {noun}")
    if page.next_cursor is not None and in_document:
        click.echo(f'next page: "cursor": "{page.next_cursor}" in the --query document')
    elif page.next_cursor is not None:
        click.echo(f"next page: --cursor {page.next_cursor}")
