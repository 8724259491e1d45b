"""The kit's opt-in pytest plugin: command-line options to turn the stateful test up.

Enable it in the ``conftest.py`` at the root of your tests::

    pytest_plugins = ["satchel.testing.plugin"]

or on the command line with ``-p satchel.testing.plugin``. Then, for a longer hunt::

    pytest --satchel-stateful-examples=500 --satchel-stateful-steps=100

It imports nothing but pytest, so that loading it costs nothing.
"""

from __future__ import annotations

import pytest

__all__ = ["pytest_addoption", "pytest_report_header"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``satchel conformance kit`` options."""
    group = parser.getgroup("satchel", "satchel conformance kit")
    options = [
        (
            "--satchel-stateful-examples",
            "satchel_stateful_examples",
            "random programs the stateful backend test runs (default: the class's "
            "stateful_max_examples, 40)",
        ),
        (
            "--satchel-stateful-steps",
            "satchel_stateful_steps",
            "operations per program of the stateful backend test (default: the class's "
            "stateful_step_count, 30)",
        ),
    ]
    for name, dest, help_ in options:
        try:
            group.addoption(name, dest=dest, type=int, default=None, metavar="N", help=help_)
        except ValueError:  # loaded twice (say, by -p and by a conftest): added already
            return


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say when the stateful test runs with other numbers than its class says."""
    examples = config.getoption("satchel_stateful_examples")
    steps = config.getoption("satchel_stateful_steps")
    if examples is None and steps is None:
        return None
    return f"satchel stateful test: examples={examples or 'default'}, steps={steps or 'default'}"
