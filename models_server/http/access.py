"""Who may use the server: client networks (`allowed_clients`) and a shared key (`api_key`).

A request passes when nothing is configured, when its client address is in one of the allowed
networks, or when it carries the key. Either one is enough, so a LAN can be trusted by address
while a caller elsewhere uses the key. `/running` stays open: the controller calls it before
anything else and aborts on any non-200, and it reveals nothing; so do the probes, which send
no credentials. A browser cannot send a key with a page's address: when a key would let it in,
the status page (`/`) opens without data and asks for the key (`refused_page()` says why), which
its script then sends, as the playground's does.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Flask, g, request

from models_server.config import Settings
from models_server.errors import Forbidden, Unauthorized

EXTENSION = "models_server.access"
# /playground is a page of code with no data in it: it must open for a person to type the key into it.
OPEN_PATHS = frozenset({"/running", "/healthz", "/readyz", "/playground"})
# Pages that open without data for a refused browser, to ask for the key (when there is one).
KEY_ASKING_PAGES = frozenset({"/"})
OPENAI_PREFIX = "/v1/"
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def install_access_control(app: Flask, settings: Settings) -> None:
    """Refuse with a 403 JSON error (401 on OpenAI's routes when a key would do) every request that
    neither the networks nor the key admit."""
    if app.extensions.get(EXTENSION):  # installed already (create_app does it): one check is enough
        return
    app.extensions[EXTENSION] = True
    networks = [ipaddress.ip_network(entry, strict=False) for entry in settings.allowed_clients]
    key = settings.api_key.encode() if settings.api_key else None
    if not networks and key is None:
        return

    @app.before_request
    def _check_access():
        if request.path in OPEN_PATHS:
            return None
        if networks and _client_in(request.remote_addr, networks):
            return None
        if key is not None and _presented_key_matches(key):
            return None
        if key is not None and request.method == "GET" and request.path in KEY_ASKING_PAGES:
            g.access_refused = _refusal(networks, key)
            return None
        # OpenAI's clients read a missing or wrong key as 401 (their AuthenticationError)
        refusal = Unauthorized if key is not None and request.path.startswith(OPENAI_PREFIX) else Forbidden
        raise refusal(_refusal(networks, key))


def refused_page() -> str | None:
    """Why this request for a key-asking page was not let in; None when it was."""
    return g.get("access_refused")


def _client_in(remote_addr: str | None, networks: list[Network]) -> bool:
    try:
        address = ipaddress.ip_address((remote_addr or "").partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    return any(address in network for network in networks)


def _presented_key_matches(key: bytes) -> bool:
    """Compare in constant time so the key cannot be guessed byte by byte from response times."""
    presented = request.headers.get("X-API-Key")
    if presented is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
    return presented is not None and hmac.compare_digest(presented.encode(), key)


def _refusal(networks: list[Network], key: bytes | None) -> str:
    ways = []
    if networks:
        ways.append(f"client {request.remote_addr} is not in allowed_clients")
    if key is not None:
        ways.append("no valid API key (send 'Authorization: Bearer <key>' or 'X-API-Key: <key>')")
    return "forbidden: " + " and ".join(ways)


def is_loopback_host(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_open(settings: Settings, logger: logging.Logger) -> bool:
    """Warn when the server listens beyond this machine and anyone who reaches it may use it.

    Such a server runs models and fetches URLs for every caller on the network. Returns whether
    it warned, so the caller and tests can tell.
    """
    if is_loopback_host(settings.host) or settings.allowed_clients or settings.api_key:
        return False
    logger.warning(
        "listening on %s with no access control: anyone who can reach this port can run models and make "
        "this machine fetch URLs. Set allowed_clients (a list of networks, e.g. [192.168.1.0/24]) and/or "
        "api_key in the config file to restrict it.",
        settings.host,
    )
    return True
