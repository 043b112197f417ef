"""Tiny asteroid models: the real classes, small, saved as asteroid's model package.

The package is the dict `BaseModel.serialize()` writes (`model_name`, `model_args`,
`state_dict`, `infos` with the software versions) that asteroid's Hub repos hold as
`pytorch_model.bin`; the loader reads it back with `BaseModel.from_pretrained`, exactly as it
reads real weights. It is assembled here from the model's own `get_model_args` and
`get_state_dict` because `serialize` imports pytorch_lightning (~15 s) only to record its version.

The DPRNN-TasNet repo dates from 2020 and is saved the pre-0.4 way, as asteroid 0.3's
`serialize` (tag v0.3.3) wrote it: `model_args` without the keys added since (`sample_rate`,
asteroid PR #285 in 0.4.0; `use_mulcat`, PR #416 in 0.4.2), the encoder activation 0.3 defaulted
to ("relu"; the WHAM! DPRNN recipe's conf.yml sets none), the same state-dict keys, and
pytorch_lightning's version in `infos` (versions of that time; the loader reads none of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KEYS_SINCE_0_4 = ("sample_rate", "use_mulcat")
PRE_0_4_VERSIONS = {"torch_version": "1.6.0", "pytorch_lightning_version": "0.8.5", "asteroid_version": "0.3.3"}


def _save(model: Any, folder: Path, before_0_4: bool = False) -> None:
    import asteroid
    import torch

    model_args = model.get_model_args()
    versions = {"torch_version": str(torch.__version__), "asteroid_version": asteroid.__version__}
    if before_0_4:
        for key in KEYS_SINCE_0_4:
            del model_args[key]
        versions = PRE_0_4_VERSIONS
    package = {
        "model_name": type(model).__name__,
        "state_dict": model.get_state_dict(),
        "model_args": model_args,
        "infos": {"software_versions": versions},
    }
    torch.save(package, folder / "pytorch_model.bin")


def build_dccrnet(folder: Path) -> None:
    """JorisCos/DCCRNet_Libri1Mix_enhsingle_16k: DCCRNet enhancement (one source) at 16 kHz,
    with asteroid's smallest built-in DCCRN architecture ("mini") and a short STFT."""
    from asteroid.models import DCCRNet

    from models_server.tasks.asteroid import accept_numpy_sizes

    accept_numpy_sizes()
    _save(DCCRNet("mini", n_src=1, sample_rate=16000, stft_n_filters=128, stft_kernel_size=128, stft_stride=64),
          folder)


def build_dprnn_tasnet(folder: Path) -> None:
    """mpariente/DPRNNTasNet-ks2_WHAM_sepclean: two speakers at 8 kHz, encoder kernel 2 (stride 1),
    saved before asteroid 0.4 (no `sample_rate`)."""
    from asteroid.models import DPRNNTasNet

    _save(DPRNNTasNet(n_src=2, n_filters=16, kernel_size=2, stride=1, bn_chan=16, hid_size=16, chunk_size=50,
                      hop_size=25, n_repeats=1, sample_rate=8000, encoder_activation="relu"), folder, before_0_4=True)


def build_convtasnet(folder: Path) -> None:
    """Awais/Audio_Source_Separation: ConvTasNet, two speakers at 8 kHz."""
    from asteroid.models import ConvTasNet

    _save(ConvTasNet(n_src=2, n_filters=16, kernel_size=16, stride=8, n_blocks=2, n_repeats=1, bn_chan=16,
                     hid_chan=16, skip_chan=16, sample_rate=8000), folder)
