"""No part of a secret anywhere: not in an error's message, nor anywhere in its chain
(``__cause__`` and ``__context__``, walked whole, ``str`` and ``repr`` of each link), nor in a
log record (root logger at DEBUG, drivers included), nor in the CLI's output, plain or
``--json``; for every shape of URL a user can type, escaped or not, and for password
variables, on the redis and mongodb backends."""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import pickle
import re
import socket
import traceback
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import satchel
from satchel.cli import CommandError, cli
from satchel.redaction import clean_error, redact_url, scrub_secrets, secret_parts

# Every password is made of two-letter segments no message holds by chance, joined by the
# characters that break naive URL parsing. A test fails when any segment shows up.
# Some hold a secret parameter's name ("&token=", ";password="), which must not end the
# password early, or a scheme ("://"), which must not start another URL.
SECRETS = [
    "Zq@Xw:Vy/Ut#?Sr",
    "Qj%40Kx",
    "Wv Yz@Jq",
    "Pk:Fj@Hb#",
    "Gx?Dv/Bm@",
    "Mx&token=Pz",
    "Yc;password=Ld",
    "Kq://Jv",
    "Nq=Rx&Sj #Tk%2FUz;Cv",
]
# the names of secret parameters that some of them hold: a message may name those
NAMES = {"token", "password"}


def segments(secret: str) -> list[str]:
    parts = re.split(r"[@:/#? %&=;]|40|2F", secret)
    return [s for s in parts if len(s) >= 2 and s not in NAMES]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


PORT = free_port()

# A MongoDB client's socket that a failed open leaves to the garbage collector is not what
# these tests are about: they look at what is shown.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def collect_leaked_sockets() -> Iterator[None]:
    """Collect such sockets after the file's last test, while the filters above hold: left
    to a later collection (this file runs last), one is reported at the end of the run."""
    yield
    gc.collect()


def redis_cases() -> Iterator[tuple[str, dict[str, str]]]:
    for pw in SECRETS:
        yield pw, {"SATCHEL_REDIS_URL": f"redis://:{pw}@127.0.0.1:{PORT}/0"}
        yield pw, {"SATCHEL_REDIS_URL": f"redis://ann:{pw}@127.0.0.1:{PORT}/0"}
        yield pw, {"SATCHEL_REDIS_URL": f"rediss://ann:{pw}@127.0.0.1:{PORT}"}
        yield pw, {"SATCHEL_REDIS_URL": f"redis://:{pw}@127.0.0.1:{PORT},127.0.0.1:{PORT}"}
        yield pw, {"SATCHEL_REDIS_URL": f"http://:{pw}@127.0.0.1:{PORT}/0"}  # wrong scheme
        yield pw, {"SATCHEL_REDIS_URL": f"redis://:{pw}@127.0.0.1:notaport/0"}
        yield pw, {"SATCHEL_REDIS_URL": f"redis://127.0.0.1:{PORT}", "SATCHEL_REDIS_PASSWORD": pw}
        yield pw, {"SATCHEL_REDIS_PORT": str(PORT), "SATCHEL_REDIS_PASSWORD": pw}
        yield pw, {"SATCHEL_REDIS_PORT": "x", "SATCHEL_REDIS_PASSWORD": pw}
        yield pw, {"TA_REDIS_PORT": str(PORT), "TA_REDIS_PWD": pw}


def mongodb_cases() -> Iterator[tuple[str, dict[str, str]]]:
    for pw in SECRETS:
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb://ann:{pw}@127.0.0.1:{PORT}/"}
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb://ann:{pw}@127.0.0.1:{PORT},127.0.0.1:1/db"}
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb+srv://ann:{pw}@cluster.invalid/db"}
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb://:{pw}@127.0.0.1:{PORT}/"}
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb://127.0.0.1:{PORT}/?password={pw}"}
        yield pw, {"SATCHEL_MONGODB_URI": f"mongodb://ann:{pw}@127.0.0.1:nope/"}
        yield pw, {"SATCHEL_MONGODB_PASSWORD": pw}  # without a user name: refused
        yield (
            pw,
            {
                "SATCHEL_MONGODB_URI": f"mongodb://127.0.0.1:{PORT}/",
                "SATCHEL_MONGODB_USERNAME": "ann",
                "SATCHEL_MONGODB_PASSWORD": pw,
            },
        )


CASES = [("redis", pw, env) for pw, env in redis_cases()] + [
    ("mongodb", pw, env) for pw, env in mongodb_cases()
]
FAST = {
    "redis": {
        "SATCHEL_REDIS_RETRIES": "0",
        "SATCHEL_REDIS_CONNECT_TIMEOUT": "0.5",
        "SATCHEL_REDIS_SOCKET_TIMEOUT": "0.5",
    },
    "mongodb": {
        "SATCHEL_MONGODB_SERVER_SELECTION_TIMEOUT": "0.3",
        "SATCHEL_MONGODB_CONNECT_TIMEOUT": "0.3",
    },
}


def chain(error: BaseException) -> list[BaseException]:
    """Every exception reachable through __cause__ and __context__, recursively."""
    seen: list[BaseException] = []
    stack = [error]
    while stack:
        link = stack.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        stack.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    return seen


def texts(error: BaseException) -> list[str]:
    out = []
    for link in chain(error):
        out += [str(link), repr(link), repr(getattr(link, "args", ()))]
    out.append("".join(traceback.format_exception(error)))
    return out


def assert_hidden(secret: str, text: str, where: str) -> None:
    assert secret not in text, f"{where}: the secret {secret!r} is in {text!r}"
    for part in segments(secret):
        assert part not in text, f"{where}: {part!r} of the secret {secret!r} is in {text!r}"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append("".join(traceback.format_exception(*record.exc_info)))


@pytest.fixture
def debug_log() -> Iterator[Records]:
    root = logging.getLogger()
    handler = Records()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def use(monkeypatch: pytest.MonkeyPatch, backend: str, env: dict[str, str]) -> None:
    monkeypatch.setenv("SATCHEL_BACKEND", backend)
    for name, value in {**FAST[backend], **env}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("backend", "secret", "env"), CASES)
def test_no_part_of_a_secret_in_errors_chains_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    debug_log: Records,
    backend: str,
    secret: str,
    env: dict[str, str],
) -> None:
    use(monkeypatch, backend, env)

    async def attempt() -> BaseException | None:
        try:
            async with satchel.open() as store:
                await asyncio.wait_for(store.kv("ns").set("k", 1), 10)
        except satchel.SatchelError as exc:
            return exc
        return None

    error = asyncio.run(attempt())
    assert error is not None, "nothing listens on the port: the call must fail"
    for text in texts(error):
        assert_hidden(secret, text, f"error chain of {type(error).__name__}")
    for line in debug_log.lines:
        assert_hidden(secret, line, "log record")


@pytest.mark.parametrize(("backend", "secret", "env"), CASES[::6])
def test_no_part_of_a_secret_in_cli_output(
    monkeypatch: pytest.MonkeyPatch, backend: str, secret: str, env: dict[str, str]
) -> None:
    use(monkeypatch, backend, env)
    for args in (
        ["doctor", "--timeout", "5"],
        ["doctor", "--timeout", "5", "--json"],
        ["kv", "get", "ns", "k"],
        ["kv", "get", "ns", "k", "--json"],
        ["backends"],
        ["backends", "--json"],
        ["backends", "--variables"],
    ):
        result = CliRunner().invoke(cli, args, prog_name="satchel")
        assert "Traceback" not in result.output, (args, result.output)
        assert_hidden(secret, result.output, f"satchel {' '.join(args)}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            for text in texts(result.exception):
                assert_hidden(secret, text, f"satchel {' '.join(args)} exception")


# Passwords made of three-letter tokens (checked in any case: a driver lowercases the option
# names it quotes) joined by what ends a URL's parts early.
TOKENS = ["Qzx", "Xjq", "Vkw", "Wqz", "Zyj", "Jxv", "Gfq", "Yqk"]
DELIMITERS = [*"@:/#?&=;%+,[] ", "%2F", "%40", "://", "?a=", "&db=", "#?", "/?", "?x=1&"]
SHAPES = {
    "redis": [
        "redis://:{pw}@{hp}/0",
        "redis://ann:{pw}@{hp}/0",
        "redis://:{pw}@{hp}",
        "redis://:{pw}@{hp}/0?db=1",
        "redis://:{pw}@{hp}?client_name=x",
        "rediss://ann:{pw}@{hp}/0",
        "redis://:{pw}@{hp},{hp}",
        "unix://:{pw}@/tmp/satchel-no-such.sock",
        "redis://{hp}/0?password={pw}",
    ],
    "mongodb": [
        "mongodb://ann:{pw}@{hp}/",
        "mongodb://ann:{pw}@{hp}/db?retryWrites=false",
        "mongodb://ann:{pw}@{hp}/?authSource=admin",
        "mongodb://ann:{pw}@{hp}",
        "mongodb+srv://ann:{pw}@cluster.invalid/db",
        "mongodb://{hp}/?password={pw}",
        "mongodb://ann:{pw}@{hp},{hp}/db?w=1",
        "mongodb://ann:{pw}@{hp}/?tls=true&retryWrites=false",
    ],
}


@st.composite
def passwords(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4, unique=True))
    joints = st.sampled_from(DELIMITERS)
    out = draw(st.one_of(st.just(""), joints))
    for token in tokens:
        out += token + draw(st.one_of(st.just(""), joints))
    return out


def _attempt_with_logs(
    monkeypatch: pytest.MonkeyPatch, backend: str, variable: str, url: str
) -> list[str]:
    """The texts a failed open and set shows: the error chain, the CLI's line, and every
    log record (root logger at DEBUG)."""
    records = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        with monkeypatch.context() as m:
            use(m, backend, {variable: url})

            async def attempt() -> BaseException | None:
                try:
                    async with satchel.open() as store:
                        await asyncio.wait_for(store.kv("ns").set("k", 1), 10)
                except satchel.SatchelError as exc:
                    return exc
                return None

            error = asyncio.run(attempt())
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    assert error is not None, f"nothing listens on the port: {url!r} must fail"
    return [*texts(error), CommandError.of(error, as_json=True).message, *records.lines]


@pytest.mark.parametrize("backend", ["redis", "mongodb"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(password=passwords(), shape=st.integers(0, 8))
@example(password="Qzx/Xjq#?Vkw", shape=1)  # mongodb: "Unknown option: vkw@127..."
@example(password="Qzx#?Xjq=1", shape=0)
@example(password="Qzx#?Xjq", shape=0)  # redis: connected to the host "qzx"
@example(password="Qzx/Xjq,Vkw", shape=7)  # redis: the socket path "/Xjq,Vkw@/tmp/..."
def test_no_token_of_a_random_password_in_any_url_shape(
    monkeypatch: pytest.MonkeyPatch, backend: str, password: str, shape: int
) -> None:
    """Random passwords, escaped or not, in every URL shape: whatever a driver makes of the
    URL, no token of the password shows up, in any case, in the error chain, the CLI's line
    or a log record."""
    shapes = SHAPES[backend]
    url = shapes[shape % len(shapes)].format(pw=password, hp=f"127.0.0.1:{PORT}")
    variable = "SATCHEL_REDIS_URL" if backend == "redis" else "SATCHEL_MONGODB_URI"
    for text in _attempt_with_logs(monkeypatch, backend, variable, url):
        for token in TOKENS:
            if token in password:
                assert token.lower() not in text.lower(), f"{url!r}: {token!r} in {text!r}"


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize(
    "shape",
    [
        "redis://:{pw}@h:1/0",
        "redis://ann:{pw}@h:1/0",
        "mongodb://ann:{pw}@h1:1,h2:2/db?authSource=admin",
        "mongodb://h/?password={pw}&w=1",
        "https://h/x?a=1&token={pw}",
        "mongodb+srv://ann:{pw}@h/db",
        "https://ann:{pw}@h/x",
        "https://me@corp.example:{pw}@h/x",
        "'redis://:{pw}@h:1/0' and more text",
        "{{'url': 'redis://:{pw}@h', 'other': 'mongodb://u:{pw}@h2'}}",
    ],
)
def test_redaction_leaves_no_character_of_a_password(shape: str, secret: str) -> None:
    text = shape.format(pw=secret)
    for shown in (redact_url(text), scrub_secrets(text), scrub_secrets(f"error: {text}\nnext")):
        assert_hidden(secret, shown, shape)
    assert "h" in redact_url(text)


def test_a_bare_token_is_masked_whole() -> None:
    assert redact_url("https://Zq9Xw8Vy@h/x") == "https://***@h/x"
    assert scrub_secrets("at https://Zq9Xw8Vy@h/x") == "at https://***@h/x"


def test_a_config_error_has_no_pydantic_error_in_its_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Raised ``from None`` is not enough: ``__context__`` still held pydantic's error,
    whose text quotes the input."""
    use(monkeypatch, "redis", {"SATCHEL_REDIS_URL": "http://:hunter2@127.0.0.1:1/0"})
    with pytest.raises(satchel.ConfigError) as info:
        satchel.open()
    assert chain(info.value) == [info.value]
    monkeypatch.setenv("SATCHEL_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SATCHEL_REDIS_PASSWORD", "hunter2")
    with pytest.raises(satchel.ConfigError) as info:
        satchel.open()
    assert chain(info.value) == [info.value]
    assert all("hunter2" not in text for text in texts(info.value))


def test_satchel_messages_keep_every_character_but_the_known_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Masking a satchel error touches only the configured secrets, in every spelling: a
    key that is a URL, a collection named with an ``@``, versions and hints stay whole."""
    monkeypatch.setenv("SATCHEL_BACKEND", "memory")
    key = "https://cdn.example.com/@ann/avatar.png?token=v2"

    async def conflict() -> satchel.Conflict:
        async with satchel.open() as store:
            await store.kv("cache").set(key, 1)
            with pytest.raises(satchel.Conflict) as info:
                await store.kv("cache").set(key, 2, expected_version=7)
            return info.value

    error = asyncio.run(conflict())
    assert str(error).startswith(f"{key!r} in ")
    assert "is at version 1, not 7; reload it and try again" in str(error)
    shown = CommandError.of(error, as_json=True).message
    assert shown == str(error)

    text = "mongodb at mongodb://127.0.0.1:1: could not read from 'orders@eu': timed out"
    assert str(clean_error(satchel.BackendUnavailable(text), ("Zq@Xw",))) == text
    url = "redis://ann:p%40ss w/rd@db:6379/0"
    secrets = secret_parts(url)
    for spelling in ("p%40ss w/rd", "p@ss w/rd", "p%40ss%20w%2Frd", "p%40ss%20w/rd"):
        masked = str(clean_error(satchel.SatchelError(f"k 'a@b' v2, not {spelling}!"), secrets))
        assert masked == "k 'a@b' v2, not ***!"


def test_a_url_in_driver_text_ends_at_a_space_or_a_quote() -> None:
    text = "mongodb at mongodb://127.0.0.1:1: could not read from 'orders@eu': timed out"
    assert scrub_secrets(text) == text
    assert scrub_secrets("'https://h/p?a=1' is at version 1") == "'https://h/p?a=1' is at version 1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:Mx&token=Pz@h:1/0", "redis://***@h:1/0"),
        ("redis://:Yc;password=Ld@h:1/0", "redis://***@h:1/0"),
        ("redis://ann:Yc;password=Ld@h:1/0", "redis://ann:***@h:1/0"),
        ("redis://:ab://cd@h", "redis://***@h"),
        ("redis://:a=b&c #d%2Fe;f@h/0?db=1", "redis://***@h/0?db=1"),
        ("mongodb://h:1/?password=Zq@Xw:Vy&w=1", "mongodb://h:1/?password=***"),
    ],
)
def test_the_user_information_is_split_off_before_secret_parameters(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert scrub_secrets(f"at {url}\nnext") == f"at {shown}\nnext"
    assert scrub_secrets(f"at '{url}' now") == f"at '{shown}' now"


class KeyConflict(satchel.Conflict):
    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(f"{key!r} is at {actual}, not {expected}", expected=expected)
        self.actual = actual
        self.key = key


def test_a_cleaned_error_survives_copy_and_pickle() -> None:
    """Masking keeps what an error is rebuilt from: its class, its message and its
    attributes (a Conflict's versions), whatever its constructor takes."""

    secrets = secret_parts("redis://:hunter2@h")
    errors: list[satchel.SatchelError] = [
        satchel.Conflict("'k' hunter2 is at 2, not 1", expected=1, actual=2),
        KeyConflict("hunter2", expected=1, actual=2),
    ]
    for error in errors:
        clean_error(error, secrets)
        assert "hunter2" not in str(error) and "hunter2" not in repr(error.args)
        for copied in (copy.copy(error), pickle.loads(pickle.dumps(error))):
            assert type(copied) is type(error)
            assert str(copied) == str(error) and copied.args == error.args
            assert isinstance(copied, satchel.Conflict)
            assert (copied.expected, copied.actual) == (1, 2)
