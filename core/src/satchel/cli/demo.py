"""``satchel demo``: a scripted agent-task lifecycle on the configured backend."""

from __future__ import annotations

from typing import Any

import click

from satchel.cli.common import open_handle
from satchel.cli.output import EPILOG, dumps, json_option, run
from satchel.cli.root import cli

__all__ = ["demo"]


@cli.command(epilog=EPILOG)
@json_option
def demo(as_json: bool) -> None:
    """Run a scripted agent-task lifecycle on the configured backend, printing each step.

    Create a task, pause it, find it by request_id and resume it, complete it, list tasks
    by status and clean up finished ones; then a short key-value and session part. It
    writes to the task store, session store and KV namespace 'satchel-demo' only, and
    removes what it wrote.
    """
    run(_demo(as_json), as_json)


async def _demo(as_json: bool) -> None:
    from satchel.demo import DEMO_NAMESPACE, DEMO_STORE, DemoStep, run_demo

    steps: list[dict[str, Any]] = []
    section: list[str] = []
    titles = {
        "tasks": f"tasks (task store {DEMO_STORE!r}, model AgentTask)",
        "kv": f"key-value (namespace {DEMO_NAMESPACE!r})",
        "sessions": f"sessions (session store {DEMO_STORE!r})",
    }

    def emit(step: DemoStep) -> None:
        steps.append(
            {"section": step.section, "action": step.action, "detail": step.detail, **step.data}
        )
        if as_json:
            return
        if section[-1:] != [step.section]:
            section.append(step.section)
            click.echo("")
            click.echo(titles.get(step.section, step.section))
        click.echo(f"  {step.action:<9} {step.detail}")

    async with open_handle() as handle:
        if not as_json:
            click.echo(
                f"satchel demo on {handle.backend.describe()}, namespace {handle.namespace!r}"
            )
        await run_demo(handle, emit)
        if as_json:
            click.echo(
                dumps(
                    {
                        "backend": handle.raw_backend.name,
                        "namespace": handle.namespace,
                        "steps": steps,
                    }
                )
            )
        else:
            click.echo("")
            click.echo("done: the demo removed everything it wrote")
