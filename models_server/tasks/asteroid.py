"""asteroid models: speech separation and enhancement (DCCRNet, DPRNN-TasNet, ConvTasNet).

An asteroid repo on the Hub is one `pytorch_model.bin`: asteroid's serialized model package, a
dict of `model_name`, `model_args`, `state_dict` and `infos` written with `torch.save`. It is a
pickle by format; it is read with `torch.load(weights_only=True)`, which accepts tensors and
plain containers only (plus torch's own version string, which asteroid records in `infos`), so
no code in it can run. `BaseModel.from_pretrained` on that dict picks the class from
`model_name` and builds it from `model_args`.

Packages saved before asteroid 0.4 (2020: mpariente/DPRNNTasNet-ks2_WHAM_sepclean) have no
`sample_rate` in `model_args`; asteroid then builds the model with its class's default rate
(8 kHz for the TasNets, the rate its own table gives every pre-0.4 model but DeMask), and so
does this loader. Only a model left with no rate at all is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import WeightsMissing
from models_server.media import Audio
from models_server.tasks import contracts
from models_server.tasks.audio_outputs import audio_answer, clipped
from models_server.tasks.base import Task

if TYPE_CHECKING:
    from models_server.tasks.loading import LoadContext

PACKAGE_FILE = "pytorch_model.bin"


def accept_numpy_sizes() -> None:
    """Let asteroid 0.7's DCCRNet build on current torch.

    DCCRMaskNet sizes its RNN with `np.prod(...)`, a numpy integer, and torch's RNNs now refuse
    anything but a Python int (TypeError: input_size should be of type int). The RNN block is
    swapped for a subclass that casts the size: same modules, same state-dict keys. Unfixed
    upstream as of asteroid's main branch (0.7.1dev); safe to call any number of times.
    """
    from asteroid.masknn import recurrent

    if getattr(recurrent.DCCRMaskNetRNN, "casts_sizes", False):
        return

    class IntSizedDCCRMaskNetRNN(recurrent.DCCRMaskNetRNN):
        casts_sizes = True

        def __init__(self, in_size: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(int(in_size), *args, **kwargs)

    recurrent.DCCRMaskNetRNN = IntSizedDCCRMaskNetRNN


@dataclass
class Separator:
    model: Any

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)


def read_package(folder: Path) -> dict[str, Any]:
    import torch
    from torch.torch_version import TorchVersion

    package = folder / PACKAGE_FILE
    if not package.is_file():
        raise WeightsMissing(f"no asteroid model package ({PACKAGE_FILE}) in {folder}")
    with torch.serialization.safe_globals([TorchVersion]):
        return torch.load(package, map_location="cpu", weights_only=True)


def load_asteroid(ctx: LoadContext) -> Separator:
    from asteroid.models import BaseModel

    package = read_package(ctx.weight_dirs[0])
    accept_numpy_sizes()
    model = BaseModel.from_pretrained(package)
    if not model.sample_rate:
        raise WeightsMissing(f"the asteroid package in {ctx.weight_dirs[0]} does not say its sample rate, "
                             f"and {package['model_name']} has no default")
    return Separator(model.to(ctx.device).eval())


def separate(
    separator: Separator, inputs: dict[str, Any], params: dict[str, Any]
) -> Audio | dict[str, Any]:
    """The enhanced speech, or each separated speaker, at the model's rate; see `audio_answer`.

    Separated speakers come at arbitrary scale and are each brought to full scale; a single
    enhanced source keeps the input's level.
    """
    import torch

    from models_server.media.audio import resample

    rate = separator.sample_rate
    samples = resample(inputs["audio"], rate).samples
    mixture = torch.from_numpy(samples).unsqueeze(0).to(next(separator.model.parameters()).device)
    with torch.inference_mode():
        sources = separator.model(mixture)[0]  # (sources, time)
    if sources.shape[0] > 1:
        sources = sources / sources.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
    return audio_answer([clipped(source, rate) for source in sources])


SEPARATE = Task(contracts.AUDIO_TO_AUDIO, separate)
