"""git-lfs pointers where weights should be: found cheaply, reported with the fix."""

from __future__ import annotations

from pathlib import Path

from models_server.weights.lfs import find_lfs_pointers, is_lfs_pointer, lfs_pointer_reason

POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d2b1e7c0f2a9e3b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b\n"
    "size 1719125304\n"
)


def clone_without_lfs(folder: Path) -> Path:
    """A diffusers repo as `git clone` leaves it when git-lfs is not installed."""
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text('{"_class_name": "UNet2DConditionModel"}')
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_text(POINTER)
    (folder / "vae").mkdir()
    (folder / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 2048)  # real (enough)
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocab.json").write_text(POINTER)  # not a weight suffix: not checked
    (folder / ".git" / "lfs").mkdir(parents=True)
    (folder / ".git" / "lfs" / "stub.bin").write_text(POINTER)  # git's own files are skipped
    return folder


def test_finds_only_weight_files_that_are_pointers(tmp_path):
    folder = clone_without_lfs(tmp_path / "sd")
    assert find_lfs_pointers(folder) == [folder / "unet" / "diffusion_pytorch_model.safetensors"]


def test_big_files_are_not_read(tmp_path):
    big = tmp_path / "model.bin"
    big.write_bytes(POINTER.encode() + b"\0" * 2048)  # starts like a pointer but is too big to be one
    assert not is_lfs_pointer(big)
    assert find_lfs_pointers(tmp_path) == []


def test_every_weight_suffix_is_checked(tmp_path):
    names = ["a.safetensors", "b.bin", "c.pth", "d.pt", "e.ckpt", "f.npy", "spiece.model", "g.onnx"]
    for name in names:
        (tmp_path / name).write_text(POINTER)
    assert [path.name for path in find_lfs_pointers(tmp_path)] == sorted(names)


def test_reason_names_the_file_the_folder_and_both_fixes(tmp_path):
    sd = clone_without_lfs(tmp_path / "runwayml" / "stable-diffusion-v1-5")
    controlnet = tmp_path / "lllyasviel" / "sd-controlnet-canny"
    controlnet.mkdir(parents=True)
    (controlnet / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 2048)
    reason = lfs_pointer_reason(
        ["lllyasviel/sd-controlnet-canny", "runwayml/stable-diffusion-v1-5"], [controlnet, sd]
    )
    assert reason == (
        f"{sd}/unet/diffusion_pytorch_model.safetensors is a git-lfs pointer, not the weights: "
        f"run `git lfs pull` in {sd} or `models-server download --model runwayml/stable-diffusion-v1-5`"
    )


def test_reason_counts_the_other_pointers(tmp_path):
    for name in ("a.bin", "b.bin", "c.bin"):
        (tmp_path / name).write_text(POINTER)
    reason = lfs_pointer_reason(["org/name"], [tmp_path])
    assert reason is not None and f"{tmp_path}/a.bin (and 2 more) is a git-lfs pointer" in reason


def test_no_reason_when_the_weights_are_real(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 4096)
    assert lfs_pointer_reason(["org/name"], [tmp_path]) is None
    assert lfs_pointer_reason([], []) is None
