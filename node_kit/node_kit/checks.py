"""Checks the packages share, ROS-free: the close match for a misspelled name, and the
DNS-rebinding guard of a server bound to loopback (Host and Origin must name it).

    close_match("rat_hz", ["rate_hz", "port"])          # 'rate_hz'
    "unknown option 'seeed'" + did_you_mean("seeed", OPTIONS)     # "...; did you mean 'seed'?"

    refusal = foreign_host_or_origin(request.headers.get("Host"),
                                     request.headers.get("Origin"), allowed={"robot.local"})
    if refusal: ...       # HostRefusal("Host", "evil.example:80") -> answer 421/403

A web page whose name resolves to 127.0.0.1 (DNS rebinding), or any other site open in
the robot's browser, can make the browser send requests to a loopback server; the
browser still names the page's host in Host and Origin, which is what is checked.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ParameterError(ValueError):
    """A parameter value or name the node refuses; the message names it."""


def close_match(word: Any, choices: Iterable[Any]) -> str | None:
    """The one of `choices` closest to `word` when close enough (difflib), else None."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return close[0] if close else None


def did_you_mean(word: Any, choices: Iterable[Any], template: str = "; did you mean {!r}?"
                 ) -> str:
    """`template` filled with the close match of `word` in `choices`, or '' (none)."""
    close = close_match(word, choices)
    return template.format(close) if close is not None else ""


def require_length(name: str, value: list, length: int) -> list:
    """The list `value` of parameter `name`, which must have `length` items."""
    if len(value) != length:
        raise ParameterError(f"parameter {name!r} must have {length} values, "
                             f"got {list(value)!r}")
    return list(value)


def is_loopback_host(host: str) -> bool:
    """Whether a bind address, or the host of a Host header or an Origin, names this
    machine's loopback: localhost (and *.localhost), 127.0.0.0/8, ::1."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of_header(value: str) -> str:
    """The host part of a Host header value ('127.0.0.1:8765', '[::1]:80', 'localhost'),
    lower-case, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def host_of_origin(origin: str) -> str | None:
    """The host of an Origin header (None for 'null', a malformed one, or a scheme other
    than http(s)/ws(s))."""
    try:
        parts = urlsplit(origin.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not host:
        return None
    return host


@dataclass(frozen=True)
class HostRefusal:
    """Why a request is refused: which header ('Host' or 'Origin') and its value."""

    header: str
    value: str


def foreign_host_or_origin(host: str | None, origin: str | None,
                           allowed: Iterable[str] = ()) -> HostRefusal | None:
    """The refusal for a request to a loopback-bound server naming `host` (its Host
    header) and `origin` (its Origin header; None when absent), or None when both name
    loopback or one of `allowed` (extra host names). Origin 'null' is refused."""
    names = {a.strip().strip("[]").lower() for a in allowed if a.strip()}

    def ok(name: str | None) -> bool:
        return name is not None and (is_loopback_host(name) or name.strip("[]").lower() in names)

    if host is not None and not ok(host_of_header(host)):
        return HostRefusal("Host", host)
    if origin is not None and not ok(host_of_origin(origin)):
        return HostRefusal("Origin", origin)
    return None


def foreign_request(hosts: Iterable[str | None], origins: Iterable[str | None],
                    allowed: Iterable[str] = ()) -> HostRefusal | None:
    """foreign_host_or_origin over every Host and Origin value a request carries (a second
    Origin header must not slip past the first); the first refusal, or None."""
    origins = list(origins) or [None]
    allowed = list(allowed)
    for host in list(hosts) or [None]:
        for origin in origins:
            refusal = foreign_host_or_origin(host, origin, allowed)
            if refusal is not None:
                return refusal
    return None
