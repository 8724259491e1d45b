"""The conformance kit's opt-in plugin (``--satchel-stateful-examples`` and friends).

Its hooks are imported rather than named in ``pytest_plugins``, which pytest allows only in
a conftest at the root of the test run.
"""

from satchel.testing.plugin import pytest_addoption, pytest_report_header

__all__ = ["pytest_addoption", "pytest_report_header"]
