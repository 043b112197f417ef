"""What an error message for a client may not contain: Python object reprs and library internals."""

from __future__ import annotations

import re

# "<_io.BytesIO object at 0x7f..>", ffmpeg's "[Errno 1094995529] ... '<none>'", libsndfile's "psf_fseek()"
LEAKS = re.compile(r"<[^>]*>|\b0x[0-9a-f]+|errno|object at|psf_\w+|\w+\(\)|traceback", re.IGNORECASE)


def assert_plain(message: str) -> None:
    """The message speaks of the request, not of the objects and functions that failed on it."""
    found = LEAKS.search(message)
    assert found is None, f"{found.group(0)!r} in a client's error message: {message}"
