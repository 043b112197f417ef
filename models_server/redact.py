"""Hiding the secrets a URL can carry before it is shown anywhere: a password, a signed query.

Anyone on the LAN can read the status page and most error messages, so a URL that a client
sent with `user:password@` or `?X-Amz-Signature=...` is shown as `user:***@host/path?***`.
Pure string work that never raises: a malformed URL is exactly what ends up in an error message.
"""

from __future__ import annotations

import re

HIDDEN = "***"
# A URL inside free text: a scheme, "://", then anything up to white space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def redact_url(url: str) -> str:
    """`url` without its fragment, with its password and its query replaced by `***`."""
    url = url.partition("#")[0]
    base, question, query = url.partition("?")
    scheme, separator, rest = base.partition("://")
    if separator:
        authority, slash, path = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        if at:
            user, colon, _password = userinfo.partition(":")
            authority = f"{user}:{HIDDEN}@{host}" if colon else f"{user}@{host}"
        base = f"{scheme}://{authority}{slash}{path}"
    return f"{base}?{HIDDEN}" if question and query else base


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted as `redact_url` does."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
