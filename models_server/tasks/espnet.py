"""espnet text-to-speech (VITS; FastSpeech2 + HiFi-GAN trained jointly), loaded by espnet's own
`Text2Speech` from the repo's `exp/<train dir>/config.yaml` and model file (`*.pth`, a state dict).

espnet configs name their statistics files relative to the repo root (`exp/tts_stats_*/...`),
which espnet would resolve against the working directory: the loader writes a copy of the
config with those paths made absolute to a temporary folder (never into the weights folder)
and loads from it. The text frontend is the config's own: real English models phonemise with
g2p_en, which reads NLTK's cmudict and averaged_perceptron_tagger_eng (`nltk_data.py`: fetched
by `models-server download`, never at load); mio/amadeus (Japanese) needs pyopenjtalk.

espnet imports a front end's package only when it first reads a text, so a model whose front end
cannot run here would load and then fail every request: `CHECKED_TEXT2SPEECH` reads the config's
`g2p` at start and refuses the model then (`front_end_refusal`).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models_server.errors import BadInput, WeightsMissing
from models_server.tasks import contracts, nltk_data
from models_server.tasks.audio_outputs import clipped
from models_server.tasks.base import Task
from models_server.tasks.loading import CannotRun, CheckedLoader

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


PYOPENJTALK_FIX = ("pip install pyopenjtalk-plus (a wheel of pyopenjtalk that ships OpenJTalk's dictionary), "
                   "or build pyopenjtalk and set OPEN_JTALK_DICT_DIR to an unpacked open_jtalk_dic_utf_8-1.11")


def _pyopenjtalk() -> str | None:
    """Why pyopenjtalk cannot phonemise here: not installed, or no dictionary (pyopenjtalk would
    download it on first use; pyopenjtalk-plus ships it in `dictionary/`)."""
    spec = importlib.util.find_spec("pyopenjtalk")
    if spec is None or spec.origin is None:
        return "the package pyopenjtalk is not installed"
    package = Path(spec.origin).parent
    places = [package / "open_jtalk_dic_utf_8-1.11", package / "dictionary"]
    if os.environ.get("OPEN_JTALK_DICT_DIR"):
        places.insert(0, Path(os.environ["OPEN_JTALK_DICT_DIR"]))
    if not any((place / "sys.dic").is_file() for place in places):
        return "pyopenjtalk has no dictionary here (it would download one on first use)"
    return None


# espnet's g2p front ends that need more than espnet's own requirements: what is missing, and the fix.
FRONT_END_NEEDS = {
    name: (_pyopenjtalk, PYOPENJTALK_FIX)
    for name in ("pyopenjtalk", "pyopenjtalk_kana", "pyopenjtalk_accent", "pyopenjtalk_accent_with_pause",
                 "pyopenjtalk_prosody")
}


def front_end_refusal(folder: Path) -> CannotRun | None:
    """Why the config's text front end cannot run here, read from the config without loading."""
    import yaml

    try:
        config_file, _ = find_experiment(folder)
    except WeightsMissing:
        return None  # the weights check says so
    g2p = str(yaml.safe_load(config_file.read_text()).get("g2p"))
    if g2p not in FRONT_END_NEEDS:
        return None
    missing, fix = FRONT_END_NEEDS[g2p]
    reason = missing()
    return None if reason is None else CannotRun(f"its text front end (g2p: {g2p}) cannot run: {reason}", fix)


def _pyopenjtalk_refusal() -> CannotRun | None:
    reason = _pyopenjtalk()
    return None if reason is None else CannotRun(f"its text front end (pyopenjtalk) cannot run: {reason}",
                                                 PYOPENJTALK_FIX)


CHECKED_TEXT2SPEECH = CheckedLoader(load_text2speech, front_end_refusal)
# For rows whose published config reads Japanese through pyopenjtalk (mio/amadeus): known without its weights.
PYOPENJTALK_TEXT2SPEECH = CheckedLoader(load_text2speech, front_end_refusal, environment=_pyopenjtalk_refusal)


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
