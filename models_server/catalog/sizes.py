"""Sizes of the weights repositories that several rows read and the runtime holds once, for
planning memory budgets before any weights are on disk (each row carries its own `fp16_bytes`).

Source: the published parameter counts of each architecture (model cards and papers) x 2 bytes,
rounded; not measured here. The Stable Diffusion 1.5 base: UNet 860 M, VAE 84 M, CLIP text
encoder 123 M parameters.
"""

from __future__ import annotations

MB = 1_000_000

SHARED_REPO_BYTES: dict[str, int] = {
    "runwayml/stable-diffusion-v1-5": 2_134 * MB,
    "Intel/dpt-hybrid-midas": 246 * MB,
    "lllyasviel/Annotators": 172 * MB,  # HED 14.7 M, M-LSD 1.5 M, OpenPose body 52 M parameters
    "microsoft/speecht5_hifigan": 25 * MB,
}
