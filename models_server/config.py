"""Settings: YAML file + MODELS_SERVER_* environment + command-line flags, validated once.

Precedence is flag > config file > environment > default. Relative paths in a config file
are taken relative to that file's folder, so a config works from any working directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models_server.errors import ConfigError

Tier = Literal["minimal", "standard", "full"]
TIERS: tuple[Tier, ...] = ("minimal", "standard", "full")
ENV_PREFIX = "MODELS_SERVER_"
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_size(value: int | str) -> int:
    """Bytes from an int or a string such as "12GiB" or "500 MB"."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1048576 or '12GiB'")
    if isinstance(value, int):
        return value
    match = _SIZE_PATTERN.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 1048576 or '12GiB', got {value!r}")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])


def check_keep_alive(seconds: float) -> float:
    """A keep-alive is seconds idle before a model unloads (0: as soon as it is idle), or -1 for never."""
    if seconds < 0 and seconds != -1:
        raise ValueError(f"keep_alive is seconds (0 or more) or -1 for never, not {seconds}")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Caps on what one request may ask for; every violation is a 4xx naming the limit."""

    max_body_bytes: int = 64 * 2**20
    max_download_bytes: int = 64 * 2**20
    max_image_pixels: int = 50_000_000
    max_audio_seconds: float = 600.0
    max_prompt_chars: int = 4000
    max_text_chars: int = 200_000
    max_table_cells: int = Field(default=100_000, ge=1)
    max_steps: int = 100
    max_width: int = 1024
    max_height: int = 1024
    max_frames: int = 64
    url_connect_timeout: float = 5.0
    url_read_timeout: float = 30.0
    max_concurrent_fetches: int = Field(default=8, ge=1)
    # Requests admitted per model in the runtime: a backstop behind the HTTP server's model queues,
    # which hand a model two at a time; it limits requests whose model is not in their path.
    max_queue_per_model: int = Field(default=8, ge=1)
    request_timeout: float = Field(default=600.0, gt=0)

    @field_validator("max_body_bytes", "max_download_bytes", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> int:
        return parse_size(value)


class DiffusionSettings(_Strict):
    """The Stable Diffusion pipelines' fast paths (tasks/diffusers/fast_paths.py), all off by default.

    The `diffusion:` section sets them for every SD row; `models.<id>.diffusion` overrides the
    keys it names for one row. A row whose choice of `channels_last` or `compile` differs from
    another's gets an SD base of its own (those change the shared UNet and VAE themselves).
    """

    channels_last: bool = False  # the UNet, ControlNet and VAE weights in NHWC memory format
    compile: bool = False  # torch.compile the UNet and ControlNet at load, warmed at the row's default size
    compile_backend: str = "inductor"
    compile_mode: str | None = None  # torch.compile's mode: None, "reduce-overhead", "max-autotune", ...
    tiny_vae: bool = False  # decode with TAESD (madebyollin/taesd) instead of the SD VAE
    # DeepCache-style step cache: the whole UNet every N steps, only its outermost blocks in between
    # (1: off, every step runs the whole UNet)
    step_cache_interval: int = Field(default=1, ge=1, le=10)
    # Requests of one shape (size, steps, guidance) already queued for the model when its turn
    # comes run as one batch of at most this many, each with its own seed (1: off)
    max_batch: int = Field(default=1, ge=1, le=16)


class ModelOverride(_Strict):
    """Per-model settings: switch a model off, read its weights from another folder, load it lazily.

    `task` serves a Hub model the catalog does not list with that task's generic loader
    (catalog/configured.py checks the name against the tasks that have one).
    """

    task: str | None = None
    enabled: bool = True
    weights: Path | None = None
    preload: bool | None = None
    compile: bool = False
    keep_alive: float | None = None  # seconds idle before it unloads, -1 never; None: the row's default
    diffusion: DiffusionSettings | None = None  # the keys given here override the `diffusion:` section

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: float | None) -> float | None:
        return None if value is None else check_keep_alive(value)


class RayGroup(_Strict):
    """One group of models on Ray Serve: its replicas each own a runtime for these models."""

    models: list[str] = Field(min_length=1)
    replicas: int = Field(default=1, ge=1)
    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    resources: dict[str, float] = {}  # custom Ray resources, e.g. {"sd_node": 1} to pin a group to nodes
    max_gpu_memory: int | None = None
    max_cpu_memory: int | None = None

    @field_validator("max_gpu_memory", "max_cpu_memory", mode="before")
    @classmethod
    def _budgets(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)


class RaySettings(_Strict):
    """The `ray:` section, read by `--engine ray` only (models_server/engines/ray/)."""

    address: str | None = None  # None: start a local Ray; "auto" or host:port: join that cluster
    groups: dict[str, RayGroup] = {}  # empty: derived from the catalog (ray_engine/grouping.py)
    group_bytes: int = 16 * 10**9  # default grouping packs units of models up to this many fp16 bytes
    default_num_cpus: float = Field(default=0.0, ge=0)  # what each derived group's replica asks Ray for
    default_num_gpus: float = Field(default=0.0, ge=0)
    ingress_max_ongoing_requests: int = Field(default=256, ge=1)
    group_max_ongoing_requests: int = Field(default=256, ge=1)
    status_interval: float = Field(default=0.5, gt=0)
    deploy_timeout: float = Field(default=300.0, gt=0)  # a group with no live replica by then is failed
    # Group processes run this much nicer than Ray started them, so the ingress (which serves HTTP)
    # answer /status promptly while generations take every core.
    group_niceness: int = Field(default=10, ge=0, le=19)
    dashboard: bool = False
    num_cpus: int | None = Field(default=None, ge=1)  # of a local Ray this command starts

    @field_validator("group_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, value: dict[str, RayGroup]) -> dict[str, RayGroup]:
        seen: dict[str, str] = {}
        for name, group in value.items():
            for model_id in group.models:
                if model_id in seen:
                    raise ValueError(f"model {model_id!r} is in groups {seen[model_id]!r} and {name!r}")
                seen[model_id] = name
        return value


# Names OpenAI clients hard-code, answered by a served row (`aliases` in the config adds to these;
# `name: null` drops one).
DEFAULT_ALIASES: dict[str, str] = {
    "whisper-1": "openai/whisper-base",
    "tts-1": "microsoft/speecht5_tts",
    "dall-e-2": "runwayml/stable-diffusion-v1-5",
    "text-embedding-3-small": "sentence-transformers/all-MiniLM-L6-v2",
    # the HuggingGPT controller's own LLM (`dev: true`), which names its model as OpenAI does
    "gpt-3.5-turbo": "Qwen/Qwen2.5-1.5B-Instruct",
    "gpt-4": "Qwen/Qwen2.5-1.5B-Instruct",
    "text-davinci-003": "Qwen/Qwen2.5-1.5B-Instruct",
}


class Settings(_Strict):
    tier: Tier = "minimal"
    model_root: Path | None = None
    public_dir: Path = Path("public")
    host: str = "127.0.0.1"
    port: int = Field(default=8005, ge=0, le=65535)
    device: str = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    threads: int = Field(default=16, ge=1, le=256)
    preload: bool = True
    # Seconds a model loaded on its first request stays after its last use (-1: never); preloaded
    # models stay. `models.<id>.keep_alive` and a load call's own keep_alive override it.
    keep_alive: float = 600.0
    warmup: bool = False
    max_gpu_memory: int | None = None
    max_cpu_memory: int | None = None
    allow_private_urls: bool = False
    allowed_clients: list[str] = []
    api_key: str | None = None
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # The HTTP server's guards (http/server.py): a status lane inference cannot occupy, admission,
    # connection caps and read deadlines.
    status_threads: int = Field(default=4, ge=1, le=64)
    max_pending: int = Field(default=16, ge=0)
    connection_limit: int = Field(default=512, ge=1)
    connections_per_client: int | None = Field(default=None, ge=1)  # None: threads + max_pending + 32
    header_timeout: float = Field(default=10.0, gt=0)
    request_read_timeout: float = Field(default=120.0, gt=0)
    idle_timeout: int = Field(default=60, ge=1)
    send_timeout: float = Field(default=30.0, gt=0)
    limits: Limits = Limits()
    # What the server keeps between runs (torch.compile's compiled kernels under torch-compile/)
    cache_dir: Path = Path("~/.cache/models_server")
    diffusion: DiffusionSettings = DiffusionSettings()
    models: dict[str, ModelOverride] = {}
    aliases: dict[str, str] = DEFAULT_ALIASES  # on the OpenAI routes (/v1/...): client's name -> served id
    engine: Literal["single", "ray"] = "single"  # ray: serve on Ray Serve (models_server/engines/ray/)
    ray: RaySettings = RaySettings()

    @field_validator("cache_dir")
    @classmethod
    def _home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE_PATTERN.match(value):
            raise ValueError("expected auto, cpu, cuda or cuda:N")
        return value

    @field_validator("max_gpu_memory", "max_cpu_memory", mode="before")
    @classmethod
    def _budgets(cls, value: Any) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: float) -> float:
        return check_keep_alive(value)

    @field_validator("allowed_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("aliases", mode="before")
    @classmethod
    def _over_default_aliases(cls, value: Any) -> Any:
        """The config's aliases over the defaults; a name mapped to null is dropped."""
        if not isinstance(value, dict) or value is DEFAULT_ALIASES:
            return value
        merged: dict[str, Any] = {**DEFAULT_ALIASES, **value}
        return {name: target for name, target in merged.items() if target is not None}

    @field_validator("models", mode="before")
    @classmethod
    def _disabled_shorthand(cls, value: Any) -> Any:
        """`models: {some-id: false}` is shorthand for `{some-id: {enabled: false}}`."""
        if isinstance(value, dict):
            return {key: {"enabled": False} if item is False else item for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _batches_leave_threads(self) -> Settings:
        """A model that batches N holds up to 2N work threads (a running batch and the next one
        read): at most half of `threads`, so that the other models' requests still get theirs."""
        rows = [(f"models.{model_id}.diffusion", self.diffusion_for(model_id))
                for model_id, override in self.models.items() if override.diffusion is not None]
        for key, diffusion in [("diffusion", self.diffusion), *rows]:
            if 4 * diffusion.max_batch > self.threads:
                raise ValueError(f"{key}.max_batch {diffusion.max_batch} would let one model hold "
                                 f"{2 * diffusion.max_batch} of the {self.threads} work threads; set threads to at "
                                 f"least {4 * diffusion.max_batch} or max_batch to at most {max(1, self.threads // 4)}")
        return self

    def override(self, model_id: str) -> ModelOverride:
        return self.models.get(model_id, ModelOverride())

    def diffusion_for(self, model_id: str) -> DiffusionSettings:
        """The `diffusion:` section with the keys `models.<id>.diffusion` sets over it."""
        row = self.override(model_id).diffusion
        if row is None:
            return self.diffusion
        return self.diffusion.model_copy(update={key: getattr(row, key) for key in row.model_fields_set})

    def preloads(self, model_id: str, row_preload: bool) -> bool:
        """Whether a model loads at start: its `models.<id>.preload`, else `preload` and the row's default."""
        override = self.override(model_id).preload
        return (self.preload and row_preload) if override is None else override


# Top-level keys that may come from the environment or flags (scalars only).
SCALAR_KEYS = ("tier", "model_root", "public_dir", "cache_dir", "host", "port", "device", "dtype", "threads")
_PATH_KEYS = ("model_root", "public_dir", "cache_dir")


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the sources in precedence order and validate; raise ConfigError naming the key."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    for key in SCALAR_KEYS:
        value = environ.get(ENV_PREFIX + key.upper())
        if value not in (None, ""):
            merged[key] = value
    if config_file is not None:
        merged.update(_read_config_file(config_file))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top")
    base = path.resolve().parent
    for key in _PATH_KEYS:
        if isinstance(data.get(key), str):
            data[key] = str(base / Path(data[key]).expanduser())
    models = data.get("models")
    for override in models.values() if isinstance(models, dict) else ():
        if isinstance(override, dict) and isinstance(override.get("weights"), str):
            override["weights"] = str(base / Path(override["weights"]).expanduser())
    return data


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown config key '{key}'"
    received = error.get("input")
    shown = "" if isinstance(received, (dict, list)) else f" (got {received!r})"
    return f"config key '{key}': {error['msg']}{shown}"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
