"""`models-server download`: which files it picks, what a dry run prints, how the command parses.

The selection is checked against Hub listings reconstructed from the repos' documented files
(tests/data/hub_listings/, sizes approximate: see support/hub_listings.py). These machines cannot
reach the real Hub, so the network path is tested against a small local imitation of its API
reached through HF_ENDPOINT (listing, repo info, file download, a second run that fetches nothing).
What only the real Hub can show is not tested here: its exact answers, gated repos and HF_TOKEN,
Xet-stored transfers, a large file resumed halfway.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlparse

import pytest
from support.hub_listings import (
    LISTINGS,
    reconstructed_listing,
)

from models_server.catalog import Repo, catalog_rows
from models_server.cli import main
from models_server.weights import download as dl

ANNOTATOR_FILES = ("ControlNetHED.pth", "mlsd_large_512_fp32.pth", "body_pose_model.pth")


def _no_build(folder: Path) -> None:
    raise AssertionError("not used")


listing = reconstructed_listing


def repo(name: str, **fields) -> Repo:
    return Repo(name, _no_build, **fields)


def select(name: str, **fields) -> list[str]:
    return dl.select_files(listing(name), repo(name, **fields))


def weights_of(files: list[str]) -> list[str]:
    return [path for path in files if not path.endswith(dl._METADATA_SUFFIXES)]


def assert_one_copy_per_weights(files: list[str]) -> None:
    """Never two formats or variants of the same weights in the same folder."""
    groups = [(group.folder, group.key) for group in map(dl._weight, files) if group is not None]
    kinds = {
        (group.folder, group.key, group.variant, group.fmt) for group in map(dl._weight, files) if group is not None
    }
    assert len({(folder, key) for folder, key, _, _ in kinds}) == len(kinds), kinds
    assert groups  # every repo here has weights


def test_stable_diffusion_gets_fp16_diffusers_weights_and_full_text_encoder():
    files = select("runwayml/stable-diffusion-v1-5")
    assert files == [
        "feature_extractor/preprocessor_config.json",
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert_one_copy_per_weights(files)
    assert not any(path.startswith("safety_checker/") for path in files)


def test_stable_diffusion_full_precision_on_request():
    name = "runwayml/stable-diffusion-v1-5"
    files = dl.select_files(listing(name), repo(name), prefer_fp16=False)
    assert weights_of(files) == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ]


def test_text_to_video_skips_the_original_checkpoints_at_the_root():
    files = select("damo-vilab/text-to-video-ms-1.7b")
    assert weights_of(files) == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert "configuration.json" in files  # harmless: a few hundred bytes of metadata
    assert_one_copy_per_weights(files)


def test_controlnet_gets_safetensors_only():
    assert select("lllyasviel/sd-controlnet-canny") == ["config.json", "diffusion_pytorch_model.safetensors"]


def test_whisper_gets_one_format_and_every_tokenizer_file():
    assert select("openai/whisper-base") == [
        "added_tokens.json",
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model.safetensors",
        "normalizer.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]


def test_bin_is_taken_when_it_is_the_only_format():
    assert select("nlpconnect/vit-gpt2-image-captioning") == [
        "config.json",
        "merges.txt",
        "preprocessor_config.json",
        "pytorch_model.bin",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]


def test_other_formats_in_subfolders_and_training_leftovers_are_skipped():
    files = select("sentence-transformers/all-MiniLM-L6-v2")
    assert weights_of(files) == ["model.safetensors"]
    assert "1_Pooling/config.json" in files and "modules.json" in files
    assert not any(path.startswith(("onnx/", "openvino/")) for path in files)
    trained = select("ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition")
    assert weights_of(trained) == ["pytorch_model.bin"]  # no optimizer.pt, training_args.bin, ...


def test_shards_come_with_their_index_and_fp16_shards_win_for_diffusers():
    files = select("example-org/sharded-fp16-example")
    assert files == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
    ]


def test_explicit_files_fetch_only_those():
    files = select("lllyasviel/Annotators", files=ANNOTATOR_FILES)
    assert files == sorted(ANNOTATOR_FILES)


def test_explicit_files_take_glob_patterns_and_report_what_matches_nothing():
    name = "lllyasviel/Annotators"
    annotators = repo(name, files=("*_pose_model.pth", "missing.pth"))
    assert dl.select_files(listing(name), annotators) == ["body_pose_model.pth", "hand_pose_model.pth"]
    assert dl.unmatched_patterns(listing(name), annotators) == ["missing.pth"]


def test_the_catalog_names_the_files_the_annotators_read():
    annotators = next(r for row in catalog_rows() for r in row.weights if r.name == "lllyasviel/Annotators")
    assert dl.select_files(listing(annotators.name), annotators) == sorted(ANNOTATOR_FILES)


def test_the_catalog_fetches_the_xvectors_from_a_dataset_repo():
    xvectors = next(r for row in catalog_rows() for r in row.weights if r.name == "Matthijs/cmu-arctic-xvectors")
    assert xvectors.repo_type == "dataset"
    assert dl.select_files(listing(xvectors.name), xvectors) == ["spkrec-xvect.zip"]


# -- choosing repos ---------------------------------------------------------------------


def test_choose_repos_by_served_id_alias_or_repo_name():
    rows = catalog_rows()
    names = [r.name for r in dl.choose_repos(rows, ["lllyasviel/sd-controlnet-canny", "midas-control"])]
    assert names == ["lllyasviel/sd-controlnet-canny", "runwayml/stable-diffusion-v1-5", "Intel/dpt-hybrid-midas"]
    moved = dl.choose_repos(rows, ["stable-diffusion-v1-5/stable-diffusion-v1-5"])
    assert [r.name for r in moved] == ["runwayml/stable-diffusion-v1-5"]
    with pytest.raises(LookupError, match="'nope/nothing' is neither"):
        dl.choose_repos(rows, ["nope/nothing"])


# -- dry run and download, with a fake Hub ------------------------------------------------


class RecordedHub(dl.Hub):
    """Answers from the reconstructed listings; `fetch` writes nothing but remembers what it was asked."""

    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.missing = missing
        self.fetched: list[tuple[str, str, list[str], Path | None]] = []

    def unreachable(self, timeout: float = 5.0) -> str | None:
        return None

    def listing(self, name: str, kind: str) -> dl.Listing | None:
        if name in self.missing or not (LISTINGS / (name.replace("/", "--") + ".json")).is_file():
            return None
        return listing(name)

    def fetch(self, name: str, kind: str, files, local_dir: Path | None, progress=None) -> Path:
        self.fetched.append((name, kind, list(files), local_dir))
        return local_dir or Path("/nonexistent")


def test_dry_run_prints_each_file_and_the_totals(tmp_path):
    lines: list[str] = []
    hub = RecordedHub()
    failed = dl.download([repo("lllyasviel/sd-controlnet-canny")], tmp_path, dry_run=True, hub=hub, out=lines.append)
    assert failed == 0
    assert hub.fetched == []
    assert lines == [
        f"lllyasviel/sd-controlnet-canny -> {tmp_path}/lllyasviel/sd-controlnet-canny",
        "      920 B  config.json",
        "     1.4 GB  diffusion_pytorch_model.safetensors",
        "  2 files, 1.4 GB",
        "total: 2 files, 1.4 GB in 1 repos (dry run: nothing downloaded)",
    ]


def test_an_alias_is_tried_when_the_first_name_is_gone_and_failures_do_not_stop_the_rest():
    lines: list[str] = []
    hub = RecordedHub(missing=("runwayml/stable-diffusion-v1-5",))
    sd = repo("runwayml/stable-diffusion-v1-5", aliases=("stable-diffusion-v1-5/stable-diffusion-v1-5",))
    failed = dl.download([sd, repo("nobody/nothing")], None, dry_run=True, hub=hub, out=lines.append)
    assert failed == 2  # the alias has no reconstructed listing either, and nobody/nothing does not exist
    assert lines[0] == (
        "runwayml/stable-diffusion-v1-5: error: LookupError: no model repo named "
        "runwayml/stable-diffusion-v1-5 or stable-diffusion-v1-5/stable-diffusion-v1-5 on the Hub"
    )
    assert lines[-1] == "total: 0 files, 0 B in 0 repos, 2 failed (dry run: nothing downloaded)"


def test_download_fetches_the_selection_into_model_root(tmp_path):
    hub = RecordedHub()
    sd = repo("runwayml/stable-diffusion-v1-5")
    assert dl.download([sd], tmp_path, hub=hub, out=lambda line: None) == 0
    [(name, kind, files, local_dir)] = hub.fetched
    assert (name, kind, local_dir) == (sd.name, "model", tmp_path / sd.name)
    assert files == select(sd.name)


def test_a_repo_without_loadable_weights_is_an_error_not_an_empty_download():
    lines: list[str] = []
    xvectors = repo("Matthijs/cmu-arctic-xvectors")  # no `files`: the zip matches no rule
    assert dl.download([xvectors], None, dry_run=True, hub=RecordedHub(), out=lines.append) == 1
    assert "no weight file matches the download rules" in lines[0]


def test_fetched_archives_are_unpacked_beside_themselves(tmp_path):
    member = "spkrec-xvect/cmu_us_slt_arctic-wav-arctic_a0508.npy"
    with zipfile.ZipFile(tmp_path / "spkrec-xvect.zip", "w") as archive:
        archive.writestr(member, b"npy")
    lines: list[str] = []
    dl._unpack_archives(tmp_path, ["spkrec-xvect.zip"], lines.append)
    dl._unpack_archives(tmp_path, ["spkrec-xvect.zip"], lines.append)
    assert (tmp_path / member).read_bytes() == b"npy"
    assert lines == ["  unpacked 1 files from spkrec-xvect.zip", "  unpacked 0 files from spkrec-xvect.zip"]


def test_hub_listing_keeps_files_and_their_sizes(monkeypatch):
    """The adapter over huggingface_hub, with its HTTP call stubbed: folders dropped, sizes kept."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    def tree(self, repo_id, path_in_repo=None, *, recursive=False, repo_type=None, **kwargs):
        assert (repo_id, recursive, repo_type) == ("openai/whisper-base", True, "model")
        yield RepoFolder(path="sub", oid="0")
        yield RepoFile(path="config.json", size=1983, oid="1")

    monkeypatch.setattr(HfApi, "list_repo_tree", tree)
    assert dl.Hub().listing("openai/whisper-base", "model") == [("config.json", 1983)]


def test_sizes_are_shown_in_decimal_units():
    assert [dl.format_size(n) for n in (0, 999, 1000, 1_719_125_304, 7_703_807_346_000)] == [
        "0 B", "999 B", "1.0 kB", "1.7 GB", "7.7 TB",
    ]


# -- the real network path, against a local imitation of the Hub -------------------------


class _FakeHubHandler(BaseHTTPRequestHandler):
    """The Hub API routes huggingface_hub uses for one repo, with small made-up file contents."""

    repo = "openai/whisper-base"
    sha = "a" * 40
    files: ClassVar[dict[str, bytes]] = {
        path: f"content of {path}\n".encode() for path, _ in listing("openai/whisper-base")
    }
    requests: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self, body: bytes, headers: dict[str, str], status: int = 200) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = unquote(urlparse(self.path).path)
        self.requests.append(f"{self.command} {path}")
        as_json = {"Content-Type": "application/json"}
        if path == f"/api/models/{self.repo}/revision/main":
            siblings = [{"rfilename": name} for name in self.files]
            return self._answer(json.dumps({"id": self.repo, "sha": self.sha, "siblings": siblings}).encode(), as_json)
        if path.startswith(f"/api/models/{self.repo}/tree/"):
            tree = [
                {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
                for name, body in self.files.items()
            ]
            return self._answer(json.dumps(tree).encode(), as_json)
        _, _, name = path.removeprefix(f"/{self.repo}/resolve/").partition("/")
        if path.startswith(f"/{self.repo}/resolve/") and name in self.files:
            body = self.files[name]
            return self._answer(body, {"X-Repo-Commit": self.sha, "ETag": f'"{hashlib.sha1(body).hexdigest()}"'})
        return self._answer(b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"}, 404)

    do_HEAD = do_GET


@pytest.fixture
def fake_hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHubHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FakeHubHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_through_hf_endpoint_fetches_the_selection_then_nothing(fake_hub, tmp_path):
    env = {**os.environ, "HF_ENDPOINT": fake_hub, "HF_HOME": str(tmp_path / "hf-home")}
    command = [
        sys.executable, "-m", "models_server", "download", "--model-root", str(tmp_path / "models"),
        "--model", "openai/whisper-base", "--model", "nlpconnect/vit-gpt2-image-captioning",
    ]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1, first.stderr  # the fake Hub has no vit-gpt2: reported, whisper still comes
    count = len(select("openai/whisper-base"))
    size = sum(len(_FakeHubHandler.files[path]) for path in select("openai/whisper-base"))
    assert first.stdout.splitlines()[-1] == (
        f"fetched {count} files ({dl.format_size(size)}), skipped 0 already present (0 B); "
        "1 of 2 repos failed (see the errors above)"
    )
    assert "nlpconnect/vit-gpt2-image-captioning: error: LookupError: no model repo named" in first.stdout
    folder = tmp_path / "models" / "openai" / "whisper-base"
    fetched = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    assert fetched == select("openai/whisper-base")
    assert (folder / "model.safetensors").read_bytes() == b"content of model.safetensors\n"

    _FakeHubHandler.requests.clear()
    again = subprocess.run(command[:-2], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        f"fetched 0 files (0 B), skipped {count} already present ({dl.format_size(size)})"
    )
    assert "(already present)" in again.stdout
    assert not [line for line in _FakeHubHandler.requests if "/resolve/" in line]  # nothing fetched twice


def test_the_progress_bar_counts_every_byte_fetched(fake_hub, tmp_path):
    files = select("openai/whisper-base")
    total = sum(len(_FakeHubHandler.files[path]) for path in files)
    stream = io.StringIO()
    progress = dl.Progress(total, stream, shown=True)
    folder = dl.Hub(endpoint=fake_hub).fetch("openai/whisper-base", "model", files, tmp_path / "whisper", progress)
    progress.close()
    assert folder == tmp_path / "whisper" and (folder / "config.json").is_file()
    assert progress.bar.n == total
    assert f"100%|##########| {total}/{total} [" in stream.getvalue()  # tqdm's bar, in bytes


# -- the command ----------------------------------------------------------------------------


def test_cli_dry_run_for_one_model(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(dl, "Hub", RecordedHub)
    code = main(["download", "--dry-run", "--model", "lllyasviel/sd-controlnet-canny", "--model-root", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == f"lllyasviel/sd-controlnet-canny -> {tmp_path}/lllyasviel/sd-controlnet-canny"
    assert f"runwayml/stable-diffusion-v1-5 -> {tmp_path}/runwayml/stable-diffusion-v1-5" in out  # its base
    assert out[-1].startswith("total: 15 files, ") and out[-1].endswith(" in 2 repos (dry run: nothing downloaded)")


def test_cli_dry_run_adds_the_decoder_tiny_vae_makes_a_pipeline_read(monkeypatch, capsys, tmp_path):
    """Under `diffusion: {tiny_vae: true}` a ControlNet pipeline decodes with TAESD: downloading the
    pipeline (or its tier) fetches TAESD too, and only for the rows the setting applies to."""
    monkeypatch.setattr(dl, "Hub", RecordedHub)
    config = tmp_path / "config.yaml"
    config.write_text("diffusion:\n  tiny_vae: true\nmodels:\n  lllyasviel/sd-controlnet-hed:\n"
                      "    diffusion: {tiny_vae: false}\n")
    root = ["--model-root", str(tmp_path), "--config", str(config)]
    assert main(["download", "--dry-run", "--model", "lllyasviel/sd-controlnet-canny", *root]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"madebyollin/taesd -> {tmp_path}/madebyollin/taesd" in out
    assert out[-1].endswith(" in 3 repos (dry run: nothing downloaded)")
    main(["download", "--dry-run", "--model", "lllyasviel/sd-controlnet-hed", *root])  # no listing of it here
    assert not any("madebyollin/taesd" in line for line in capsys.readouterr().out.splitlines())
    main(["download", "--dry-run", "--tier", "minimal", *root])
    assert sum(line.startswith("madebyollin/taesd ->") for line in capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["download", "--bogus"], "--bogus"),
        (["download", "--tier", "huge"], "--tier"),
        (["download", "--dry-run=yes"], "--dry-run"),
    ],
)
def test_cli_download_bad_flags_exit_nonzero_with_one_line(args, named, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err


def test_cli_download_unknown_model_is_one_line(capsys):
    assert main(["download", "--dry-run", "--model", "nope/nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope/nothing" in err


def test_an_unreachable_hub_is_one_line_that_says_what_to_set(tmp_path):
    """Connection refused: one line within seconds, not five retries with back-off per repo (the
    subprocess's timeout is far below what those retries took)."""
    from support.cli import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home")}
    done = subprocess.run([sys.executable, "-m", "models_server", "download", "--tier", "minimal", "--dry-run"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert lines == [f"cannot reach the Hugging Face Hub at {endpoint}: the connection was refused; set HF_ENDPOINT "
                     "to a mirror this machine can reach, or HTTPS_PROXY to your proxy"]


def test_huggingface_hub_warnings_are_printed_once(capfd):
    import logging

    from models_server.logs import configure

    dl.Hub()  # imports huggingface_hub, whose logger comes with a stderr handler of its own
    writer = configure("info")
    logging.getLogger("huggingface_hub.utils._http").error("retrying")
    writer.stop(timeout=30)
    assert capfd.readouterr().err.count("retrying") == 1
