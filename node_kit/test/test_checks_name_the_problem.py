"""node_kit.checks: close matches for misspelled names, and the loopback Host/Origin
guard (DNS rebinding) that the embedded brain server and the detector share."""

from __future__ import annotations

import pytest

from node_kit.checks import (
    HostRefusal,
    close_match,
    did_you_mean,
    foreign_host_or_origin,
    foreign_request,
    host_of_header,
    host_of_origin,
    is_loopback_host,
)


def test_close_matches_are_named_and_far_words_are_not():
    assert close_match("rat_hz", ["rate_hz", "port"]) == "rate_hz"
    assert close_match("zzz", ["rate_hz", "port"]) is None
    assert close_match(3, ["3"]) is None  # only words have close matches
    assert did_you_mean("seeed", ["seed", "learning"]) == "; did you mean 'seed'?"
    assert did_you_mean("seeed", ["seed"], " (did you mean {!r}?)") == " (did you mean 'seed'?)"
    assert did_you_mean("qqq", ["seed"]) == ""


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1",
                                  "127.3.2.1", "::1", "[::1]"])
def test_loopback_names(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "robot.lan", "localhost.evil.com",
                                  "", "::"])
def test_other_names_are_not_loopback(host):
    assert not is_loopback_host(host)


def test_header_hosts_are_read_without_port_or_brackets():
    assert host_of_header("127.0.0.1:8765") == "127.0.0.1"
    assert host_of_header("[::1]:80") == "::1"
    assert host_of_header("LocalHost") == "localhost"
    assert host_of_header("::1") == "::1"   # a bare IPv6 address keeps its colons
    assert host_of_origin("http://localhost:8004") == "localhost"
    assert host_of_origin("https://[::1]") == "::1"
    assert host_of_origin("null") is None
    assert host_of_origin("file:///etc/passwd") is None
    assert host_of_origin("chrome-extension://abc") is None


def test_foreign_host_or_origin_names_the_header_and_its_value():
    assert foreign_host_or_origin("127.0.0.1:8765", "http://localhost:3000") is None
    assert foreign_host_or_origin(None, None) is None
    assert foreign_host_or_origin("evil.example:80", None) == HostRefusal("Host", "evil.example:80")
    assert foreign_host_or_origin("localhost", "http://evil.example") == \
        HostRefusal("Origin", "http://evil.example")
    assert foreign_host_or_origin("localhost", "null") == HostRefusal("Origin", "null")
    # Extra names are allowed when given (a robot reached by its host name).
    assert foreign_host_or_origin("robot.lan:8765", "http://robot.lan", ["Robot.lan"]) is None


def test_every_value_of_a_repeated_header_counts():
    assert foreign_request(["localhost"], ["http://localhost", "http://evil.example"]) == \
        HostRefusal("Origin", "http://evil.example")
    assert foreign_request(["localhost", "evil.example"], []) == HostRefusal("Host", "evil.example")
    assert foreign_request([], []) is None
