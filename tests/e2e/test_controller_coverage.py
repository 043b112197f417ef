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


# The README's coverage table ("served / candidates" per task), kept by hand: a catalog row gained or
# lost changes the command's figure, and then this table and the README's change with it.
EXPECTED_COVERAGE = {
    "text-classification": (10, 10), "token-classification": (9, 10), "question-answering": (10, 10),
    "sentence-similarity": (10, 10), "tabular-classification": (6, 10), "object-detection": (9, 10),
    "image-classification": (10, 10), "image-to-text": (10, 10), "text-to-image": (10, 10),
    "image-to-image": (5, 10), "visual-question-answering": (10, 10), "document-question-answering": (7, 10),
    "image-segmentation": (8, 10), "depth-estimation": (8, 10), "text-to-video": (2, 8),
    "text-to-speech": (5, 10), "automatic-speech-recognition": (8, 10), "audio-to-audio": (10, 10),
    "audio-classification": (7, 10),
}


def test_list_coverage_prints_every_task_and_the_total():
    result = cli("list", "--coverage")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    printed = {}
    for line in lines[1:-1]:
        task, served, _, candidates, hybrid_safe = line.split()
        printed[task] = (int(served), int(candidates))
        assert hybrid_safe == ("yes" if int(served) >= min(5, int(candidates)) else "NO"), line
    assert printed == EXPECTED_COVERAGE
    served = sum(served for served, _ in EXPECTED_COVERAGE.values())
    candidates = sum(candidates for _, candidates in EXPECTED_COVERAGE.values())
    assert lines[-1].split()[1:] == [str(served), "/", str(candidates)]


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
