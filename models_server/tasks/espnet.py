"""espnet text-to-speech (VITS; FastSpeech2 + HiFi-GAN trained jointly), loaded by espnet's own
`Text2Speech` from the repo's `exp/<train dir>/config.yaml` and model file (`*.pth`, a state dict).

espnet configs name their statistics files relative to the repo root (`exp/tts_stats_*/...`),
which espnet would resolve against the working directory: the loader writes a copy of the
config with those paths made absolute to a temporary folder (never into the weights folder)
and loads from it. The text frontend is the config's own: real English models phonemise with
g2p_en, which reads NLTK's cmudict and averaged_perceptron_tagger_eng (`nltk_data.py`: fetched
by `models-server download`, never at load); mio/amadeus (Japanese) needs pyopenjtalk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput, WeightsMissing
from models_server.tasks import contracts, nltk_data
from models_server.tasks.audio_outputs import clipped
from models_server.tasks.base import Task

if TYPE_CHECKING:
    from models_server.media import Audio
    from models_server.tasks.loading import LoadContext


def find_experiment(folder: Path) -> tuple[Path, Path]:
    """(config.yaml, model file) of the repo's training run: the `exp/` folder holding both."""
    for config in sorted(folder.glob("exp/**/config.yaml")):
        models = sorted(config.parent.glob("*.pth"))
        if models:
            return config, models[0]
    raise WeightsMissing(f"no espnet training run (exp/<run>/config.yaml beside a .pth) in {folder}")


def _absolute(value: Any, root: Path) -> Any:
    """Relative paths that exist under `root` made absolute, anywhere in the config."""
    if isinstance(value, dict):
        return {key: _absolute(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_absolute(item, root) for item in value]
    if isinstance(value, str) and value.startswith("exp/") and (root / value).exists():
        return str(root / value)
    return value


def nltk_packages(folder: Path) -> tuple[str, ...]:
    """The NLTK data the repo's text front end reads (its config's `g2p`)."""
    import yaml

    config_file, _ = find_experiment(folder)
    return nltk_data.packages_for((yaml.safe_load(config_file.read_text()) or {}).get("g2p"))


def load_text2speech(ctx: LoadContext) -> Any:
    import yaml

    folder = ctx.weight_dirs[0]
    config_file, model_file = find_experiment(folder)
    config = _absolute(yaml.safe_load(config_file.read_text()), folder)
    absent = nltk_data.missing(nltk_data.packages_for(config.get("g2p")))
    if absent:
        raise WeightsMissing(
            f"its text front end ({config.get('g2p')}) reads NLTK data not on this machine: {', '.join(absent)} "
            f"(`models-server download --model {ctx.model_id}` fetches it)"
        )
    Text2Speech = nltk_data.import_espnet_tts()
    with tempfile.TemporaryDirectory(prefix="espnet-config-") as scratch:
        resolved = Path(scratch) / "config.yaml"
        resolved.write_text(yaml.safe_dump(config, allow_unicode=True))
        return Text2Speech(train_config=str(resolved), model_file=str(model_file), device=ctx.device)


def speak(tts: Any, inputs: dict[str, Any], params: dict[str, Any]) -> Audio:
    """The text read aloud at the model's rate (22.05 kHz for LJSpeech)."""
    import torch

    text = inputs["text"]
    if not tts.preprocess_fn("<dummy>", {"text": text})["text"].size:
        raise BadInput("the text has no sound this model can speak")
    with torch.inference_mode():
        waveform = tts(text)["wav"]
    return clipped(waveform, int(tts.fs))


SPEAK = Task(contracts.TEXT_TO_SPEECH, speak)
