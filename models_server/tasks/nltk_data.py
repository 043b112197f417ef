"""NLTK data a text front end reads: found on disk, fetched by `models-server download`, never at load.

espnet's English voices phonemise with g2p_en, which reads NLTK's `cmudict` and
`averaged_perceptron_tagger_eng`. g2p_en downloads both when it is imported and they are missing,
and espnet imports it for every text-to-speech model, even one that reads characters: on a LAN
without the internet that start reaches out (and behind a firewall that drops packets, hangs).
`import_g2p_offline` imports it with NLTK's downloader refused; a loader whose config needs the
data checks `missing` first and fails with the fix; `fetch` is what `download` runs.

NLTK looks in its own search path (`NLTK_DATA`, ~/nltk_data, the environment's share/nltk_data...);
`fetch` writes to the first writable one, as `nltk.download` does, so the server finds it there.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

# The data each espnet `g2p` front end reads, as (NLTK package, the resource g2p_en looks for).
G2P_DATA: dict[str, tuple[tuple[str, str], ...]] = {
    "g2p_en": (("averaged_perceptron_tagger_eng", "taggers/averaged_perceptron_tagger_eng.zip"),
               ("cmudict", "corpora/cmudict.zip")),
}
G2P_DATA["g2p_en_no_space"] = G2P_DATA["g2p_en"]
_RESOURCES = dict(pair for pairs in G2P_DATA.values() for pair in pairs)
_import_lock = threading.Lock()


def packages_for(g2p: object) -> tuple[str, ...]:
    """The NLTK packages an espnet config's `g2p` value needs (none for most front ends)."""
    return tuple(package for package, _ in G2P_DATA.get(str(g2p), ()))


def missing(packages: Iterable[str]) -> list[str]:
    """The packages NLTK cannot find on this machine (looked up on disk only)."""
    import nltk

    absent = []
    for package in packages:
        try:
            nltk.data.find(_RESOURCES[package])
        except LookupError:
            absent.append(package)
    return absent


def missing_on_disk(packages: Iterable[str]) -> list[str]:
    """`missing` without importing NLTK (which imports scikit-learn and SciPy: seconds), for the
    start-time check: each package's file looked for in `data_path()`."""
    folders = [Path(folder) for folder in data_path()]
    return [package for package in packages if not any((folder / _RESOURCES[package]).exists() for folder in folders)]


def data_path() -> list[str]:
    """NLTK's search path as nltk/data.py builds it on POSIX systems, from the environment of now."""
    path = [os.path.expanduser(folder) for folder in os.environ.get("NLTK_DATA", "").split(os.pathsep) if folder]
    if "APPENGINE_RUNTIME" not in os.environ and os.path.expanduser("~/") != "~/":
        path.append(os.path.expanduser("~/nltk_data"))
    path += [os.path.join(sys.prefix, "nltk_data"), os.path.join(sys.prefix, "share", "nltk_data"),
             os.path.join(sys.prefix, "lib", "nltk_data"), "/usr/share/nltk_data", "/usr/local/share/nltk_data",
             "/usr/lib/nltk_data", "/usr/local/lib/nltk_data"]
    return path


def search_path() -> list[str]:
    import nltk

    return list(nltk.data.path)


def fetch(packages: Sequence[str]) -> list[str]:
    """Download `packages` with NLTK's own downloader; return those that failed (with why)."""
    from nltk.downloader import Downloader

    downloader = Downloader()
    failed = []
    for package in packages:
        try:
            downloader.download(package, quiet=True, raise_on_error=True)
        except Exception as exc:  # the network, a proxy, a full disk: reported per package
            failed.append(f"{package} ({type(exc).__name__}: {exc})")
    return failed


@contextlib.contextmanager
def downloads_refused() -> Iterator[None]:
    """While active, `nltk.download` answers False (what it answers when offline) without a
    connection. Only imports run under it, under one lock."""
    import nltk

    def refused(*args: object, **kwargs: object) -> bool:
        return False

    original = nltk.download
    nltk.download = refused
    try:
        yield
    finally:
        nltk.download = original


def import_g2p_offline() -> None:
    """Import g2p_en (espnet imports it with every TTS model) without its download at import."""
    with _import_lock, downloads_refused():
        import g2p_en  # noqa: F401


def import_espnet_tts() -> Any:
    """espnet's `Text2Speech`, imported with g2p_en offline and without the line espnet prints to
    stdout at import when the optional flash_attn is not installed."""
    import_g2p_offline()
    with _import_lock, contextlib.redirect_stdout(io.StringIO()):
        from espnet2.bin.tts_inference import Text2Speech
    return Text2Speech
