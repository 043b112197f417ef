"""Counting the controller's candidates the catalog serves."""

import dataclasses

from support.cli import cli

from models_server.catalog import catalog_rows
from models_server.controller.candidates import CANDIDATES
from models_server.controller.coverage import coverage


def test_the_candidate_lists_are_the_first_ten_of_each_served_task():
    assert len(CANDIDATES) == 19
    assert all(1 <= len(ids) <= 10 and len(set(ids)) == len(ids) for ids in CANDIDATES.values())


def test_a_candidate_counts_when_a_row_of_the_tier_serves_it_by_id_or_alias():
    rows = {row.id: row for row in catalog_rows()}
    gpt_like = dataclasses.replace(rows["gpt2"], id="test/renamed", aliases=("openai/whisper-tiny",), tier="full")
    variations = rows["lambdalabs/sd-image-variations-diffusers"]
    by_task = {entry.task: entry for entry in coverage([gpt_like, variations], "full")}
    assert by_task["automatic-speech-recognition"].served == ("openai/whisper-tiny",)
    assert by_task["image-to-image"].served == ("lambdalabs/sd-image-variations-diffusers",)
    assert not by_task["automatic-speech-recognition"].enough_for_hybrid
    minimal = {entry.task: entry for entry in coverage([gpt_like, variations], "minimal")}
    assert minimal["automatic-speech-recognition"].served == ()  # a full-tier row is not served by minimal


def test_list_coverage_prints_every_task_and_the_total():
    result = cli("list", "--coverage")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert {line.split()[0] for line in lines[1:-1]} == set(CANDIDATES)
    served = sum(len(entry.served) for entry in coverage(catalog_rows()))
    assert lines[-1].split()[1:] == [str(served), "/", "188"]


def test_list_coverage_ids_names_the_candidates_each_count_is_made_of():
    table = cli("list", "--coverage").stdout.splitlines()
    listing = cli("list", "--coverage", "--ids").stdout.splitlines()
    counted: dict[str, list[str]] = {}
    for line in listing:
        if not line.startswith("  "):
            task = line.split(":")[0]
            counted[task] = []
        elif not line.startswith("  not counted: "):
            counted[task].append(line.strip())
    assert set(counted) == set(CANDIDATES)
    for line in table[1:-1]:
        task, served = line.split()[0], int(line.split()[1])
        assert len(counted[task]) == served and set(counted[task]) <= set(CANDIDATES[task])
    assert "google/maxim-s3-deblurring-gopro" in counted["image-to-image"]
