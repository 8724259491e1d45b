"""Plugins are found through the ``satchel`` entry-point group, as installed packages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import satchel
from satchel.errors import BackendNotFound, PluginError
from satchel.plugins import load_plugins

InstallDist = Callable[..., Path]

FOO_PLUGIN = """
    from satchel import BackendSpec, hookimpl
    from satchel_memory import MemoryBackend

    class FooBackend(MemoryBackend):
        name = "foo"

    @hookimpl
    def satchel_register_backends(register):
        register(BackendSpec("foo", lambda s, core: FooBackend(), None, "Foo for tests"))
"""


def test_memory_is_found_through_its_entry_point() -> None:
    plugins = load_plugins()
    memory = plugins.backends["memory"]
    assert memory.plugin == "memory"
    assert memory.distribution.startswith("satchel-memory ")
    assert plugins.failures == []


def test_a_third_party_backend_is_found_and_selected(
    install_dist: InstallDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dist("satchel-foo", {"foo": "satchel_foo_plugin"}, {"satchel_foo_plugin": FOO_PLUGIN})
    plugins = load_plugins()
    assert {"foo", "memory"} <= set(plugins.names())  # and any other installed plugin
    assert plugins.backends["foo"].distribution == "satchel-foo 1.0"
    monkeypatch.setenv("SATCHEL_BACKEND", "foo")
    store = satchel.open()
    assert store.raw_backend.name == "foo"


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    install_dist: InstallDist, caplog: pytest.LogCaptureFixture
) -> None:
    install_dist(
        "satchel-broken",
        {"broken": "satchel_broken_plugin"},
        {"satchel_broken_plugin": "import not_a_module_anywhere\n"},
        version="2.3",
    )
    with caplog.at_level(logging.WARNING, logger="satchel"):
        plugins = load_plugins()
    assert "memory" in plugins.backends  # the others keep working
    [failure] = plugins.failures
    assert failure.name == "broken"
    assert failure.distribution == "satchel-broken 2.3"
    assert "not_a_module_anywhere" in failure.error
    assert "broken" in caplog.text and "satchel-broken 2.3" in caplog.text


def test_selecting_a_plugin_that_failed_says_why(
    install_dist: InstallDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dist(
        "satchel-broken",
        {"broken": "satchel_broken2"},
        {"satchel_broken2": "raise RuntimeError('boom')\n"},
    )
    monkeypatch.setenv("SATCHEL_BACKEND", "broken")
    with pytest.raises(BackendNotFound) as info:
        satchel.open()
    assert "satchel-broken 1.0" in str(info.value)
    assert "RuntimeError: boom" in str(info.value)


def test_two_plugins_registering_one_backend_name_is_an_error_naming_both(
    install_dist: InstallDist,
) -> None:
    install_dist("satchel-foo", {"foo": "satchel_foo_a"}, {"satchel_foo_a": FOO_PLUGIN})
    install_dist("acme-foo", {"acmefoo": "satchel_foo_b"}, {"satchel_foo_b": FOO_PLUGIN}, "0.9")
    with pytest.raises(PluginError) as info:
        load_plugins()
    message = str(info.value)
    assert "'foo'" in message
    assert "satchel-foo 1.0" in message and "acme-foo 0.9" in message


def test_a_misspelt_hook_is_an_error_not_silence(install_dist: InstallDist) -> None:
    install_dist(
        "satchel-typo",
        {"typo": "satchel_typo_plugin"},
        {
            "satchel_typo_plugin": """
                from satchel import hookimpl

                @hookimpl
                def satchel_register_backend(register):  # missing "s"
                    pass
            """
        },
    )
    with pytest.raises(PluginError) as info:
        load_plugins()
    assert "typo" in str(info.value) and "satchel-typo 1.0" in str(info.value)
    assert "satchel_register_backend" in str(info.value)


def test_disabled_plugins_are_not_loaded(
    install_dist: InstallDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dist(
        "satchel-broken",
        {"broken": "satchel_broken3"},
        {"satchel_broken3": "raise SystemError('x')\n"},
    )
    install_dist("satchel-foo", {"foo": "satchel_foo_c"}, {"satchel_foo_c": FOO_PLUGIN})
    plugins = load_plugins(disabled=["broken", "foo"])
    assert plugins.failures == []
    assert "memory" in plugins.names()
    assert not {"broken", "foo"} & set(plugins.names())
    monkeypatch.setenv("SATCHEL_DISABLE_PLUGINS", " broken , foo")
    monkeypatch.setenv("SATCHEL_BACKEND", "foo")
    with pytest.raises(BackendNotFound) as info:
        satchel.open()
    assert "disabled by SATCHEL_DISABLE_PLUGINS" in str(info.value)


def test_disabling_metrics_turns_the_observer_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_DISABLE_PLUGINS", "metrics")
    store = satchel.open()
    assert store.plugins.metrics is None


def test_a_plugin_raising_in_registration_is_reported_and_skipped(
    install_dist: InstallDist,
) -> None:
    install_dist(
        "satchel-angry",
        {"angry": "satchel_angry_plugin"},
        {
            "satchel_angry_plugin": """
                from satchel import hookimpl

                @hookimpl
                def satchel_register_backends(register):
                    raise ValueError("cannot register: redis://u:hunter2@db:6379")
            """
        },
    )
    plugins = load_plugins()
    [failure] = plugins.failures
    assert failure.name == "angry"
    assert "hunter2" not in failure.error and "cannot register" in failure.error
    assert "memory" in plugins.backends


def test_registering_something_else_than_a_spec_is_a_plugin_error(
    install_dist: InstallDist,
) -> None:
    install_dist(
        "satchel-odd",
        {"odd": "satchel_odd_plugin"},
        {
            "satchel_odd_plugin": """
                from satchel import hookimpl

                @hookimpl
                def satchel_register_backends(register):
                    register("odd")
            """
        },
    )
    with pytest.raises(PluginError, match="not a BackendSpec"):
        load_plugins()
