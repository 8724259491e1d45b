"""``satchel backends``: what is installed, what is selected, and its settings."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import quiet_plugin_log, unused_variables
from satchel.cli.output import (
    EPILOG,
    EXIT_CONFIG,
    CommandError,
    dumps,
    echo_lines,
    json_option,
    masked,
    one_line,
    reporting_errors,
    setting_text,
    table,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.plugins import LoadedPlugins
    from satchel.settings import SatchelSettings

__all__ = ["backends"]


@cli.command(epilog=EPILOG)
@click.option(
    "--variables",
    is_flag=True,
    help="List every environment variable of core and of each installed backend instead.",
)
@json_option
def backends(variables: bool, as_json: bool) -> None:
    """What is installed, what is selected, and its settings (secrets masked).

    Exits 3 after the listing when the selected backend cannot be used.
    """
    import os

    from satchel.plugins import load_plugins
    from satchel.settings import SatchelSettings, load_settings

    with reporting_errors(as_json):
        settings = load_settings(SatchelSettings)
        with quiet_plugin_log():
            plugins = load_plugins(disabled=settings.disable_plugins)
        if variables:
            _print_variables(plugins, os.environ, as_json)
            return
        report = _backends_report(settings, plugins, os.environ)
        if as_json:
            click.echo(dumps(report))
        else:
            _print_backends(report)
        error = report["selected"]["error"]
        if error is not None:
            raise CommandError(
                error,
                exit_code=EXIT_CONFIG,
                kind=report["selected"]["error_type"],
                as_json=as_json,
                reported=True,
            )


def _selected_backend(settings: SatchelSettings, plugins: LoadedPlugins) -> dict[str, Any]:
    from satchel.errors import ConfigError
    from satchel.settings import load_settings, settings_summary

    selected: dict[str, Any] = {
        "name": settings.backend,
        "kind": "plugin",
        "module": None,
        "class": None,
        "distribution": None,
        "installed": False,
        "settings": {},
        "error": None,
        "error_type": None,
    }
    try:
        custom = settings.custom_backend()
        if custom is not None:
            from satchel.loader import load_backend_class

            module, class_name = custom
            selected.update(name=f"{module}:{class_name}", kind="custom", module=module)
            selected["class"] = class_name
            load_backend_class(module, class_name)
            selected["installed"] = True
            return selected
        registered = plugins.backends.get(settings.backend)
        if registered is None:
            from satchel.handle import build_backend

            # Not registered: build_backend raises its "unknown backend ..." error at once.
            build_backend(settings, plugins)
            return selected
        selected.update(installed=True, distribution=registered.distribution)
        if registered.spec.settings_cls is not None:
            summary = settings_summary(load_settings(registered.spec.settings_cls))
            selected["settings"] = {name: masked(value) for name, value in summary.items()}
    except ConfigError as exc:
        selected.update(error=one_line(str(exc)), error_type=type(exc).__name__)
    return selected


def _backends_report(
    settings: SatchelSettings, plugins: LoadedPlugins, environ: Mapping[str, str]
) -> dict[str, Any]:
    from satchel.settings import SatchelSettings, settings_summary, variable_source

    selected = _selected_backend(settings, plugins)
    return {
        # the variable the backend's name came from (SATCHEL_BACKEND when it is the default)
        "backend_source": variable_source(SatchelSettings, "backend", environ) or "SATCHEL_BACKEND",
        "backends": [
            {
                "name": name,
                "distribution": registered.distribution,
                "plugin": registered.plugin,
                "description": registered.spec.description,
                "selected": selected["kind"] == "plugin" and name == settings.backend,
            }
            for name, registered in sorted(plugins.backends.items())
        ],
        "selected": selected,
        "core_settings": {k: masked(v) for k, v in settings_summary(settings).items()},
        "plugins": [
            {"name": name, "distribution": plugins.distributions.get(name, "")}
            for name, plugin in plugins.manager.list_name_plugin()
            if plugin is not None
        ],
        "codecs": [codec.name for codec in plugins.codecs],
        "failed_plugins": [
            {"name": f.name, "distribution": f.distribution, "error": one_line(f.error)}
            for f in plugins.failures
        ],
        "disabled_plugins": list(settings.disable_plugins),
        "unused_variables": unused_variables(plugins, environ),
    }


def _print_backends(report: dict[str, Any]) -> None:
    click.echo("installed backends")
    rows = [
        [
            ("* " if b["selected"] else "  ") + b["name"],
            b["distribution"],
            b["description"],
        ]
        for b in report["backends"]
    ]
    if rows:
        echo_lines(table(rows, ["  NAME", "DISTRIBUTION", "DESCRIPTION"], indent=""))
    else:
        click.echo("  (none)")

    selected = report["selected"]
    click.echo("")
    if selected["kind"] == "custom":
        click.echo(
            f"selected: custom class {selected['class']} from {selected['module']} "
            "(SATCHEL_BACKEND_MODULE, SATCHEL_BACKEND_CLASS)"
        )
    else:
        where = f", from {selected['distribution']}" if selected["distribution"] else ""
        click.echo(f"selected: {selected['name']} ({report['backend_source']}{where})")
    if selected["error"]:
        click.echo(f"  error: {selected['error']}")
    settings_rows = [[name, setting_text(value)] for name, value in selected["settings"].items()]
    echo_lines(table(settings_rows))

    click.echo("")
    click.echo("core settings")
    echo_lines(table([[k, setting_text(v)] for k, v in report["core_settings"].items()]))

    click.echo("")
    plugins = ", ".join(f"{p['name']} ({p['distribution']})" for p in report["plugins"])
    click.echo(f"plugins: {plugins}")
    click.echo(f"codecs: {', '.join(report['codecs']) or '(none)'}")
    click.echo(f"disabled plugins: {', '.join(report['disabled_plugins']) or '(none)'}")
    if report["failed_plugins"]:
        click.echo("failed plugins:")
        for failure in report["failed_plugins"]:
            click.echo(f"  {failure['name']} ({failure['distribution']}): {failure['error']}")
    else:
        click.echo("failed plugins: (none)")
    if report["unused_variables"]:
        click.echo(
            "unused variables (set, but read by nothing installed; a typo?): "
            + ", ".join(report["unused_variables"])
        )


def _print_variables(plugins: LoadedPlugins, environ: Mapping[str, str], as_json: bool) -> None:
    from satchel.settings import SatchelSettings, describe_variables

    upper_env = {key.upper() for key in environ}
    groups: list[tuple[str, str, Any]] = [("core", "satchel", SatchelSettings)]
    groups += [
        (name, registered.distribution, registered.spec.settings_cls)
        for name, registered in sorted(plugins.backends.items())
        if registered.spec.settings_cls is not None
    ]
    rows: list[dict[str, Any]] = []
    for plugin, distribution, settings_cls in groups:
        for variable in describe_variables(settings_cls, environ):
            rows.append(
                {
                    "plugin": plugin,
                    "distribution": distribution,
                    "name": variable.name,
                    "aliases": list(variable.aliases),
                    "type": variable.type,
                    "default": masked(variable.default),
                    "secret": variable.secret,
                    "set": any(n.upper() in upper_env for n in (variable.name, *variable.aliases)),
                    # the variable the value is taken from (None: unset, or only ignored)
                    "source": variable.source,
                    "description": variable.description,
                }
            )
    if as_json:
        click.echo(dumps({"variables": rows}))
        return
    current = None
    for row in rows:
        if row["plugin"] != current:
            if current is not None:
                click.echo("")
            current = row["plugin"]
            click.echo(f"{row['plugin']} ({row['distribution']})")
        flags = [row["type"], f"default: {row['default']}"]
        if row["secret"]:
            flags.append("secret")
        if row["source"] is not None:
            flags.append(f"set, from {row['source']}")
        elif row["set"]:
            flags.append("set, ignored")
        click.echo(f"  {row['name']}  [{', '.join(flags)}]")
        for line in textwrap.wrap(row["description"], 88):
            click.echo(f"      {line}")
        if row["aliases"]:
            click.echo(f"      also read from: {', '.join(row['aliases'])}")
