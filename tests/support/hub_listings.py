"""The Hub listings recorded in tests/data/hub_listings/, in the form `download.select_files` takes."""

from __future__ import annotations

import json

from models_server.weights.download import Listing
from support.paths import DATA

LISTINGS = DATA / "hub_listings"


def recorded_listing(repo_name: str) -> Listing:
    data = json.loads((LISTINGS / (repo_name.replace("/", "--") + ".json")).read_text())
    return [(path, size) for path, size in data["files"]]
