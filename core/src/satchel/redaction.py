"""Secrets kept out of what satchel shows: URLs' credentials masked in text from elsewhere
(:func:`scrub_secrets`, :func:`redact_url`), known secrets masked in satchel's own messages
(:func:`mask_secrets`, :func:`mask_foreign`), and exception chains cut where a link would
show one (:func:`clean_error`).

Nothing here knows about settings: :mod:`satchel.settings` finds the secrets of a settings
object (``SecretStr`` fields, passwords inside URLs) and hands them to these functions.
"""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import quote, unquote, unquote_plus

__all__ = [
    "check_url_userinfo",
    "clean_error",
    "mask_foreign",
    "mask_secrets",
    "redact_url",
    "scrub_secrets",
    "secret_parts",
]

E = TypeVar("E", bound=BaseException)


# A URL's scheme. What follows "scheme://" up to the last "@" of the URL is its user
# information (users type passwords unescaped, with "@", ":", "/", "#" or "?" in them, so no
# other character can be trusted to end it); everything before the first ":" in it is the
# user name, the rest the password. Only then are the password-like parameters looked for,
# in what follows the user information (a password may hold "&token=" itself).
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_NAMES = (
    r"[?&;](?:password|passwd|pwd|pass|secret|token|api_?key|access_?key|"
    r"authmechanismproperties|tlscertificatekeyfilepassword)="
)
# ...?password=secret&... and its usual spellings, in a URL
_SECRET_PARAM = re.compile(_SECRET_NAMES, re.IGNORECASE)
# the same in free text, where its value ends at a separator, a space or a quote
_SECRET_PARAM_VALUE = re.compile(rf"(?P<name>{_SECRET_NAMES})[^&;#\s'\"]*", re.IGNORECASE)
# a URL's host list: names or addresses, [IPv6], each with an optional numeric port
_HOST = r"(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%!$*+-]+)(?::[0-9]*)?"
_HOSTS = re.compile(rf"(?:{_HOST}(?:,{_HOST})*)?")
# where a URL in free text ends: a space or a quote (a URL quoted by repr ends at its quote)
_URL_STOP = re.compile(r"[\s'\"]")


def _is_hosts(text: str) -> bool:
    """Whether ``text`` (what follows ``scheme://``, without user information) starts with a
    well-formed host list: ``redis://:pass word@h`` cut at its space gives ``:pass``, which
    is not one."""
    authority = re.split(r"[/?#]", text.rstrip(".,;:)]}>"), maxsplit=1)[0]
    return _HOSTS.fullmatch(authority) is not None


def _userinfo_end(rest: str) -> int:
    """Where the user information of ``rest`` (what follows ``scheme://``) ends: at its last
    ``@`` (a password may hold ``@``, ``:``, ``/``, ``?``, ``#``, ``&``, ``=``, ``;`` or
    ``://``, so only that one can end it); ``-1`` when it has no ``@``, or when a host list
    and a query's secret parameter come before its first ``@`` (``h/?password=a@b``: the
    ``@`` is the parameter's)."""
    first = rest.find("@")
    if first < 0:
        return -1
    param = _SECRET_PARAM.search(rest, 0, first)
    if param is not None and "?" in rest[: param.end()] and _is_hosts(rest[: param.start()]):
        return -1
    return rest.rfind("@")


def check_url_userinfo(url: str) -> None:
    """Raise ``ValueError`` when the user information of ``url`` (what follows
    ``scheme://`` up to its last ``@``) holds an unescaped ``/``, ``?`` or ``#``. A driver
    ends the host part at the first of them, so it would read the rest of the password as a
    host, a path or options: connect to another server than the one shown and quote that
    part of the password in its errors. The message never quotes the URL."""
    text = url.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        return
    rest = text[scheme.end() :]
    at = _userinfo_end(rest)
    if at >= 0 and any(c in rest[:at] for c in "/?#"):
        raise ValueError(
            "a '/', '?' or '#' comes before the last '@': a password (or user name) holding "
            "'/', '?', '#' or '@' must be percent-encoded (%2F, %3F, %23, %40), and so must "
            "an '@' in the path or an option"
        )


def _mask_userinfo(userinfo: str) -> str:
    """``user:***`` (the user name kept), or ``***`` when it is not ``user:password`` (a bare
    token is as secret as a password) or the user name holds an ``@``."""
    user, has_password, _ = userinfo.partition(":")
    if has_password and user and "@" not in user:  # an "@" may be a password's, unescaped
        return f"{user}:***"
    return "***"


def _redact_rest(rest: str) -> tuple[str, bool]:
    """What follows ``scheme://`` in a URL, with the user information (see
    :func:`_userinfo_end`) masked, then everything after a secret parameter's ``=`` (its
    value may hold any character, ``&`` and ``@`` too); and whether such a parameter was
    found. Without user information, what is not a host list is masked whole."""
    at = _userinfo_end(rest)
    head = f"{_mask_userinfo(rest[:at])}@" if at >= 0 else ""
    hosts = rest[at + 1 :]
    if at < 0 and not _is_hosts(hosts):
        return "***", False
    param = _SECRET_PARAM.search(hosts)
    if param is None:
        return head + hosts, False
    return f"{head}{hosts[: param.end()]}***", True


def _url_end(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the URL whose scheme spans ``text[start:end]`` ends: at its closing quote when
    it is quoted, else at the first space or quote (or, when what precedes that has no host
    list after its user information, as in ``redis://:pass word@h``, at the end of the next
    word holding an ``@``); and how far a secret parameter's value may run (the closing quote,
    or the end of the line)."""
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    quote = text[start - 1] if start > 0 and text[start - 1] in "'\"" else ""
    if quote:
        close = text.find(quote, end, line_end)
        if close >= 0:
            return close, close
    found = _URL_STOP.search(text, end, line_end)
    stop = found.start() if found else line_end
    span = text[end:stop]
    if not _is_hosts(span[_userinfo_end(span) + 1 :]):
        more = re.compile(r"@[^\s'\"]*").search(text, stop, line_end)
        if more is not None:
            stop = more.end()
    return stop, line_end


def scrub_secrets(text: str) -> str:
    """``text`` from elsewhere (a driver's or pydantic's message) with the credentials of
    any URL in it masked. A URL ends at a space or a quote (its closing quote if it is
    quoted); everything after its ``scheme://`` up to its last ``@``, but the user name,
    becomes ``***`` (so a password holding ``@``, ``:``, ``/``, ``#``, ``?``, ``&`` or
    ``://``, escaped or not, is masked whole, and one holding a space too when the URL is
    quoted or what precedes the space is no host), and so does everything after a
    password-like parameter (``password=``, ``token=``, ...) up to the closing quote or the
    end of the line. It masks more than needed rather than less: satchel's own messages are
    not scrubbed but masked with the known secrets (:func:`mask_secrets`)."""
    out: list[str] = []
    position = 0
    while (match := _SCHEME.search(text, position)) is not None:
        stop, limit = _url_end(text, match.start(), match.end())
        shown, to_limit = _redact_rest(text[match.end() : stop])
        out.append(text[position : match.end()])
        out.append(shown)
        position = limit if to_limit else stop
    out.append(text[position:])
    return _SECRET_PARAM_VALUE.sub(r"\g<name>***", "".join(out))


def secret_parts(secret: str) -> tuple[str, ...]:
    """What to hide of a secret value: the password (or token) of a URL and its
    password-like parameters, or the whole value when it is not a URL."""
    text = secret.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        return (secret,) if secret else ()
    parts: list[str] = []
    rest = text[scheme.end() :]
    at = _userinfo_end(rest)
    userinfo, hosts = rest[: max(at, 0)], rest[at + 1 :]
    if at >= 0:
        _, has_password, password = userinfo.partition(":")
        parts.append(password if has_password else userinfo)
    elif not _is_hosts(hosts):
        parts.append(hosts)
    param = _SECRET_PARAM.search(hosts)
    if param is not None:  # a secret parameter's value runs to the end (see _redact_rest)
        parts.append(hosts[param.end() :])
    return tuple(p for p in parts if p)


def _spellings(secret: str) -> set[str]:
    """``secret`` as typed, percent-encoded and percent-decoded (and that re-encoded)."""
    found = {secret, unquote(secret), unquote_plus(secret)}
    return found | {quote(s, safe=safe) for s in found for safe in ("", "/")}


_QUOTED = re.compile(r"'([^'\n]+)'|\"([^\"\n]+)\"")
_URL_SPAN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s'\"]*)")
# the pieces of a quoted fragment between a URL's delimiters ("/Jv@127" holds "Jv")
_DELIMITED = re.compile(r"[^@:/#?&;=,\s]+")


def mask_secrets(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` (satchel's own message) with every known secret masked and nothing else
    changed: each spelling of a secret (as typed, percent-encoded, percent-decoded) becomes
    ``***``, and so does a piece of two characters or more of one that is quoted, alone or
    between a URL's delimiters (as a driver quotes the part of a URL it could not parse:
    ``port 'Vy'``, ``database name "/Jv@127"``), and a URL whose host or port is such a
    piece (a driver may show a URL it parsed its own way). Keys, names, versions and hints
    stay whole."""
    variants = sorted({v for s in secrets for v in _spellings(s) if len(v) >= 3}, key=len)
    for secret in reversed(variants):
        text = text.replace(secret, "***")
    pieces = [s for s in secrets if s]
    if not pieces:
        return text

    def piece(fragment: str) -> bool:
        return len(fragment) >= 2 and any(fragment in s for s in pieces)

    def quoted(match: re.Match[str]) -> str:
        fragment = match.group(1) or match.group(2) or ""
        if piece(fragment):
            return match.group(0).replace(fragment, "***")
        masked = _DELIMITED.sub(lambda m: "***" if piece(m.group(0)) else m.group(0), fragment)
        return match.group(0).replace(fragment, masked)

    def url(match: re.Match[str]) -> str:
        authority = re.split(r"[/?#]", match.group(2), maxsplit=1)[0]
        if any(piece(p) for p in re.split(r"[@:,\[\]]", authority)):
            return match.group(1) + "***"
        return match.group(0)

    return _URL_SPAN.sub(url, _QUOTED.sub(quoted, text))


def mask_foreign(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` from elsewhere (a driver's, pydantic's) made safe to show: the known secrets
    masked (:func:`mask_secrets`), then the credentials of any URL (:func:`scrub_secrets`)."""
    return scrub_secrets(mask_secrets(text, secrets))


def _leaks(error: BaseException, secrets: tuple[str, ...]) -> bool:
    try:
        text = f"{error}\n{error!r}"
    except Exception:  # an exception whose __str__ fails shows nothing either
        return False
    return mask_foreign(text, secrets) != text


def clean_error(error: E, secrets: tuple[str, ...] = ()) -> E:
    """``error`` made safe to show, with its whole chain: the known secrets in the messages
    of satchel's errors are masked (:func:`mask_secrets`; their other characters stay, and
    so does what their arguments rebuild them from), a context suppressed with ``raise ...
    from None`` is dropped, and any other exception (a driver's, pydantic's) whose text
    holds a secret or a URL's credentials is cut from the chain, as ``__cause__`` or
    ``__context__``."""
    from satchel.errors import SatchelError

    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        if isinstance(link, SatchelError):
            masked = mask_secrets(link.message, secrets)
            if masked != link.message:
                link.message = masked
                link.args = tuple(
                    mask_secrets(a, secrets) if isinstance(a, str) else a for a in link.args
                )
        if link.__suppress_context__:
            link.__context__ = None
        for attribute in ("__cause__", "__context__"):
            child = getattr(link, attribute)
            if child is None:
                continue
            if not isinstance(child, SatchelError) and _leaks(child, secrets):
                setattr(link, attribute, None)
                link.__suppress_context__ = True
            else:
                stack.append(child)
    return error


def redact_url(url: str) -> str:
    """``url`` with its credentials masked: everything between ``scheme://`` and the last
    ``@`` of the URL, but the user name, becomes ``***``, and so does everything after a
    password-like parameter. Only the user name, the hosts, the path and the other
    parameters stay, so that no character of a password survives, whatever it holds."""
    scheme = _SCHEME.match(url.lstrip())
    if scheme is None:
        return scrub_secrets(url)
    text = url.lstrip()
    return text[: scheme.end()] + _redact_rest(text[scheme.end() :])[0]
