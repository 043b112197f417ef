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

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

import certifi
import urllib3

from models_server.errors import BadInput

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Certificates are checked against the same bundle `requests` uses, so behaviour matches it.
CA_BUNDLE = certifi.where()

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

    `read_timeout` bounds each stall; the whole fetch, redirects included, must also end within
    `connect_timeout + read_timeout`, so a server that trickles bytes cannot hold a worker.
    """
    resolver = resolver or resolve_host
    deadline = time.monotonic() + connect_timeout + read_timeout
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    for _ in range(MAX_REDIRECTS + 1):
        if time.monotonic() > deadline:
            raise BadInput(f"fetching {url} took longer than url_connect_timeout + url_read_timeout")
        target = _Target.parse(url)
        address = _checked_address(target, resolver, allow_private)
        pool = _pool(target, address, timeout)
        try:
            response = _get(pool, target)
            try:
                if response.status in _REDIRECTS:
                    url = urljoin(url, response.headers.get("location", "")).partition("#")[0]
                    continue
                if response.status != 200:
                    raise BadInput(f"fetching {url} answered HTTP {response.status}")
                return _read_capped(response, url, max_bytes, deadline)
            finally:
                response.release_conn()
                response.close()
        finally:
            pool.close()
    raise BadInput(f"fetching {url}: more than {MAX_REDIRECTS} redirects")


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
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BadInput(f"{url!r} is not a valid URL") from None
        if parts.scheme not in _DEFAULT_PORTS:
            raise BadInput(f"only http and https URLs can be fetched, not {url!r}")
        if not parts.hostname:
            raise BadInput(f"{url!r} names no host")
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadInput(f"{url!r} has a host name that cannot be encoded") from None
        return cls(url, parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], _request_target(parts))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _request_target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _checked_address(target: _Target, resolver: Resolver, allow_private: bool) -> str:
    """Resolve once and refuse unless every address is public; the first is the one we use."""
    try:
        found = resolver(target.host, target.port)
        # A scope ("fe80::1%eth0") is kept for connecting but is no part of the address checked.
        addresses = [(raw, ipaddress.ip_address(raw.partition("%")[0])) for raw in found]
    except (OSError, UnicodeError, ValueError):
        raise BadInput(f"cannot fetch {target.url}: host {target.host!r} does not resolve") from None
    if not addresses:
        raise BadInput(f"cannot fetch {target.url}: host {target.host!r} does not resolve")
    if not allow_private:
        for _, address in addresses:
            kind = non_public_kind(address)
            if kind:
                raise BadInput(
                    f"{target.url} resolves to {address}, {kind}; set allow_private_urls: true to allow"
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


def _pool(target: _Target, address: str, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the checked address that still speaks to the host by name."""
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address, target.port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=CA_BUNDLE,
            server_hostname=target.host, assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)


def _get(pool: urllib3.HTTPConnectionPool, target: _Target) -> urllib3.BaseHTTPResponse:
    headers = {"Host": target.host_header, "Accept-Encoding": "identity", "User-Agent": "models_server"}
    try:
        return pool.urlopen(
            "GET", target.request_target, headers=headers, redirect=False,
            preload_content=False, assert_same_host=False,
        )
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of TimeoutError, for history
        raise BadInput(f"cannot fetch {target.url}: {_reason(exc)}") from None
    except urllib3.exceptions.TimeoutError:
        raise BadInput(f"fetching {target.url} timed out") from None
    except urllib3.exceptions.HTTPError as exc:
        raise BadInput(f"cannot fetch {target.url}: {_reason(exc)}") from None


def _read_capped(response: urllib3.BaseHTTPResponse, url: str, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadInput(f"{url} is {declared} bytes; the limit max_download_bytes is {max_bytes}")
    body = bytearray()
    try:
        # read1 returns whatever has arrived, so the deadline is checked even while bytes trickle.
        while chunk := response.read1(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise BadInput(f"{url} is larger than the limit max_download_bytes ({max_bytes})")
            if time.monotonic() > deadline:
                raise BadInput(f"fetching {url} took longer than url_connect_timeout + url_read_timeout")
    except urllib3.exceptions.TimeoutError:
        raise BadInput(f"fetching {url} timed out") from None
    except urllib3.exceptions.HTTPError as exc:
        raise BadInput(f"reading {url} failed: {_reason(exc)}") from None
    return bytes(body)


def _reason(exc: Exception) -> str:
    """The innermost cause's class name: enough to act on, without echoing internal detail."""
    cause = getattr(exc, "reason", None) or exc.__cause__ or exc
    return type(cause).__name__
