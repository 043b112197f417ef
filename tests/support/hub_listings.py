"""Hub file listings in tests/data/hub_listings/, in the form `download.select_files` takes.

None of them was recorded from the Hub (these machines cannot reach it), and no stored copy of a
real listing could be found to check them against: each was reconstructed from what the repo is
documented to hold (its model card, the layout its library saves, public code that names its
files), with sizes approximate. Each file's `note` says which source it was built from. They test
which files `download` picks from a listing of that shape, not that the Hub lists exactly these.
"""

from __future__ import annotations

import json

from models_server.weights.download import Listing
from support.paths import DATA

LISTINGS = DATA / "hub_listings"


def reconstructed_listing(repo_name: str) -> Listing:
    """The listing of `repo_name` (org/name) as (path, approximate size) pairs."""
    data = json.loads((LISTINGS / (repo_name.replace("/", "--") + ".json")).read_text())
    return [(path, size) for path, size in data["files"]]
