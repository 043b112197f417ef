"""Downloading a resource over http(s) without letting a caller reach our own network.

The server fetches URLs on behalf of anyone who can reach it on the LAN, so a URL is a way to
make *this* machine send requests: to its loopback services, to the LAN, to the cloud metadata
address. Every hop (the first request and each redirect) therefore resolves the host name once,
refuses it when any address it resolves to is not public, and connects to the very address it
checked, keeping the name for the Host header, TLS SNI and certificate checks. Connecting to the
checked address, rather than resolving again, is what defeats DNS rebinding (a name that answers
"public" to the check and "127.0.0.1" to the connection).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import certifi
import urllib3

from models_server.errors import BadInput
from models_server.redact import redact_url

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Certificates are checked against the same bundle `requests` uses, so behaviour matches it.
CA_BUNDLE = certifi.where()
# Name lookups run here so a slow DNS server cannot outlast the deadline; a lookup stuck in the
# system resolver keeps its thread, and at most this many can be stuck at once.
_RESOLVERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# Looked up at call time so tests can replace it; a caller can also pass `resolver=`.
resolve_host: Resolver = system_resolve


def fetch_url(
    url: str,
    max_bytes: int,
    connect_timeout: float,
    read_timeout: float,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> bytes:
    """The body at `url`; every failure is a BadInput that says what went wrong.

    `connect_timeout` bounds each connection attempt and `read_timeout` each stall, and the whole
    exchange (name lookups, connects, TLS, status lines, headers and bodies of every redirect hop)
    must end within `connect_timeout + read_timeout`: at that moment the connection is shut
    down, so a server that trickles a byte at a time cannot hold a worker any longer.
    URLs in messages are redacted (no password, no query): they are shown to other clients.
    """
    deadline = Deadline(connect_timeout + read_timeout)
    with deadline:
        try:
            body = _fetch(url, max_bytes, connect_timeout, read_timeout, allow_private,
                          resolver or resolve_host, deadline)
        except BadInput:
            if deadline.expired:
                raise deadline.error(url) from None
            raise
        if deadline.expired:  # the shutdown may read as a clean end of a body without a length
            raise deadline.error(url)
        return body


class Deadline:
    """One fetch's overall deadline: when it passes, every connection being watched is shut down.

    Shutting a socket down wakes whichever thread is blocked on it (in connect, the TLS
    handshake or a read) with an error, which is the only way to bound a read that receives a
    byte just before each per-read timeout would fire. A duplicate of each socket's descriptor
    is watched: shutdown acts on the connection behind every descriptor, and the duplicate stays
    valid when the TLS layer takes the original socket object over.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._watched: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            for duplicate in self._watched:
                duplicate.close()
            self._watched.clear()

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def check(self, url: str) -> None:
        if self.expired or time.monotonic() >= self.ends:
            raise self.error(url)

    def watch(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            self._watched.append(duplicate)
            if self.expired:
                _shut(duplicate)

    def error(self, url: str) -> BadInput:
        return BadInput(
            f"fetching {redact_url(url)} did not finish within {self.seconds:g} s "
            "(the limit url_connect_timeout + url_read_timeout)"
        )

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for duplicate in self._watched:
                _shut(duplicate)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer: the blocked call fails on its own
        sock.shutdown(socket.SHUT_RDWR)


def _fetch(url: str, max_bytes: int, connect_timeout: float, read_timeout: float, allow_private: bool,
           resolver: Resolver, deadline: Deadline) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        deadline.check(url)
        target = _Target.parse(url)
        address = _checked_address(target, resolver, allow_private, deadline)
        timeout = urllib3.Timeout(
            connect=max(0.001, min(connect_timeout, deadline.remaining())),
            read=max(0.001, min(read_timeout, deadline.remaining())),
        )
        pool = _pool(target, address, timeout, deadline)
        try:
            response = _get(pool, target)
            try:
                if response.status in _REDIRECTS:
                    url = _redirect_target(url, response.headers.get("location", ""))
                    continue
                if response.status != 200:
                    raise BadInput(f"fetching {redact_url(url)} answered HTTP {response.status}")
                return _read_capped(response, url, max_bytes)
            finally:
                response.release_conn()
                response.close()
        finally:
            pool.close()
    raise BadInput(f"fetching {redact_url(url)}: more than {MAX_REDIRECTS} redirects")


def _redirect_target(url: str, location: str) -> str:
    try:
        return urljoin(url, location).partition("#")[0]
    except ValueError:  # e.g. "http://[::1": urlsplit refuses it
        raise BadInput(f"{redact_url(url)} redirected to an invalid URL {redact_url(location)[:200]!r}") from None


@dataclass(frozen=True)
class _Target:
    """One hop's URL, split into what the connection and the request line need."""

    url: str
    scheme: str
    host: str  # the name as typed (IDNA-encoded), or an IP literal without brackets
    port: int
    request_target: str

    @classmethod
    def parse(cls, url: str) -> _Target:
        shown = redact_url(url)[:300]
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BadInput(f"{shown!r} is not a valid URL") from None
        if parts.scheme not in _DEFAULT_PORTS:
            raise BadInput(f"only http and https URLs can be fetched, not {shown!r}")
        if not parts.hostname:
            raise BadInput(f"{shown!r} names no host")
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadInput(f"{shown!r} has a host name that cannot be encoded") from None
        return cls(url, parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], _request_target(parts))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _request_target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _checked_address(target: _Target, resolver: Resolver, allow_private: bool, deadline: Deadline) -> str:
    """Resolve once and refuse unless every address is public; the first is the one we use."""
    shown = redact_url(target.url)
    try:
        found = _RESOLVERS.submit(resolver, target.host, target.port).result(timeout=deadline.remaining())
        # A scope ("fe80::1%eth0") is kept for connecting but is no part of the address checked.
        addresses = [(raw, ipaddress.ip_address(raw.partition("%")[0])) for raw in found]
    except FutureTimeout:
        raise deadline.error(target.url) from None
    except (OSError, UnicodeError, ValueError):
        raise BadInput(f"cannot fetch {shown}: host {target.host!r} does not resolve") from None
    if not addresses:
        raise BadInput(f"cannot fetch {shown}: host {target.host!r} does not resolve")
    if not allow_private:
        for _, address in addresses:
            kind = non_public_kind(address)
            if kind:
                raise BadInput(
                    f"{shown} resolves to {address}, {kind}; set allow_private_urls: true to allow"
                )
    return addresses[0][0]


def non_public_kind(address: IPAddress) -> str | None:
    """What makes `address` unsafe to fetch from ("a loopback address", ...), or None if public.

    An IPv4 address written inside IPv6 (::ffff:127.0.0.1, 64:ff9b::/96, 6to4 2002::/16) is judged
    by the IPv4 address it carries, since that is where the packets may end up.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return non_public_kind(embedded)
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attribute, kind in checks:
        if getattr(address, attribute):
            return kind
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection whose socket the deadline can shut down, from the moment it exists."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self._deadline.watch(sock)
        return sock


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The same for TLS (method order puts the watch before HTTPSConnection): the socket is
    watched before the handshake, so that is covered too."""


def _pool(target: _Target, address: str, timeout: urllib3.Timeout, deadline: Deadline) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address that still speaks to the host by name."""
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, target.port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=CA_BUNDLE,
            server_hostname=target.host, assert_hostname=target.host, deadline=deadline,
        )
        pool.ConnectionCls = _WatchedHTTPSConnection
        return pool
    pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                      deadline=deadline)
    pool.ConnectionCls = _WatchedHTTPConnection
    return pool


def _get(pool: urllib3.HTTPConnectionPool, target: _Target) -> urllib3.BaseHTTPResponse:
    headers = {"Host": target.host_header, "Accept-Encoding": "identity", "User-Agent": "models_server"}
    shown = redact_url(target.url)
    try:
        return pool.urlopen(
            "GET", target.request_target, headers=headers, redirect=False,
            preload_content=False, assert_same_host=False,
        )
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of TimeoutError, for history
        raise BadInput(f"cannot fetch {shown}: {_reason(exc)}") from None
    except urllib3.exceptions.TimeoutError:
        raise BadInput(f"fetching {shown} timed out") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
        # ValueError: http.client refusing what a server sent (e.g. an invalid status line)
        raise BadInput(f"cannot fetch {shown}: {_reason(exc)}") from None


def _read_capped(response: urllib3.BaseHTTPResponse, url: str, max_bytes: int) -> bytes:
    shown = redact_url(url)
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadInput(f"{shown} is {declared} bytes; the limit max_download_bytes is {max_bytes}")
    body = bytearray()
    try:
        while chunk := response.read1(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise BadInput(f"{shown} is larger than the limit max_download_bytes ({max_bytes})")
    except urllib3.exceptions.TimeoutError:
        raise BadInput(f"fetching {shown} timed out") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
        raise BadInput(f"reading {shown} failed: {_reason(exc)}") from None
    return bytes(body)


def _reason(exc: Exception) -> str:
    """The innermost cause's class name: enough to act on, without echoing internal detail."""
    cause = getattr(exc, "reason", None) or exc.__cause__ or exc
    return type(cause).__name__
