"""Which models share a process on Ray: units that share weights, packed into groups.

A unit is the closure of "reads a weights repository another served model reads too": the SD
base with its ControlNets and the text-to-image rows that load the same base; the depth and
normal annotators with the DPT depth model. Loaders share such weights inside one runtime
(`SharedComponents`), so a unit is never split — split, each part would load its own copy.
Units are then packed, largest first, into groups of at most `ray.group_bytes` (fp16 bytes);
a unit larger than that is a group of its own. Groups the config names come first (a named model
brings its unit along); the rest is packed. Sizes are the catalog's fp16 estimates: a base is
counted once only when its own row is served too. Pure: no Ray here, so the plan can be printed and tested anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from models_server.catalog import ModelSpec, build_catalog
from models_server.config import RayGroup, Settings
from models_server.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Unit:
    """Models that share weights; `bytes` estimates what they hold together (shared base counted once)."""

    models: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, kw_only=True)
class GroupPlan:
    name: str
    models: tuple[str, ...]
    config: RayGroup
    bytes: int

    def resources(self) -> dict[str, float]:
        """What one replica asks Ray for, as Ray names it."""
        asked: dict[str, float] = {"CPU": self.config.num_cpus}
        if self.config.num_gpus:
            asked["GPU"] = self.config.num_gpus
        asked.update(self.config.resources)
        return asked


def enabled_rows(rows: Iterable[ModelSpec], settings: Settings) -> list[ModelSpec]:
    """Rows a server with these settings serves (in its tier, not disabled): the ones groups hold."""
    return [row for row in rows if row.in_tier(settings.tier) and settings.override(row.id).enabled]


def units(rows: list[ModelSpec]) -> list[Unit]:
    """Rows joined through the weights repositories they read, in catalog order."""
    parent = {row.id: row.id for row in rows}

    def root(model_id: str) -> str:
        while parent[model_id] != model_id:
            parent[model_id] = parent[parent[model_id]]
            model_id = parent[model_id]
        return model_id

    reader_of: dict[str, str] = {}
    for row in rows:
        for repo in row.weights:
            for name in repo.names:
                if name in reader_of:
                    parent[root(row.id)] = root(reader_of[name])
                else:
                    reader_of[name] = row.id
    members: dict[str, list[ModelSpec]] = {}
    for row in rows:
        members.setdefault(root(row.id), []).append(row)
    return [Unit(models=tuple(row.id for row in unit), bytes=_unit_bytes(unit)) for unit in members.values()]


def _unit_bytes(rows: list[ModelSpec]) -> int:
    """Sum of the rows' fp16 sizes, less a base another row of the unit is (a ControlNet row's size
    includes the SD base it reads, which the base row counts already)."""
    weights = {row.id: {repo.name for repo in row.weights} for row in rows}
    size = {row.id: row.fp16_bytes or 0 for row in rows}
    total = 0
    for row in rows:
        bases = [other for other in rows if other.id != row.id and weights[other.id] and
                 weights[other.id] < weights[row.id]]
        total += max(0, size[row.id] - sum(size[base.id] for base in bases))
    return total


def plan_groups(rows: list[ModelSpec], settings: Settings) -> list[GroupPlan]:
    """The groups `--engine ray` deploys; ConfigError for a group naming an unknown or unserved
    model, or splitting a unit."""
    served = enabled_rows(rows, settings)
    catalog = build_catalog(rows)
    served_ids = {row.id for row in served}
    unit_of = {model_id: unit for unit in units(served) for model_id in unit.models}
    placed: dict[str, str] = {}
    plans: list[GroupPlan] = []
    for name, group in settings.ray.groups.items():
        ids: list[str] = []
        for given in group.models:
            spec = catalog.get(given)
            if spec is None:
                raise ConfigError(f"config key 'ray.groups.{name}.models': no such model id {given!r}")
            if spec.id not in served_ids:
                raise ConfigError(f"config key 'ray.groups.{name}.models': {given!r} is not served "
                                  f"(tier {spec.tier}, or disabled)")
            if spec.id in placed:
                raise ConfigError(f"config key 'ray.groups.{name}.models': {given!r} is also in group "
                                  f"{placed[spec.id]!r}")
            placed[spec.id] = name
            ids.append(spec.id)
        plans.append(GroupPlan(name=name, models=tuple(ids), config=group, bytes=0))
    for index, plan in enumerate(plans):  # a named model brings the models it shares weights with
        ids = list(plan.models)
        for model_id in plan.models:
            for other in unit_of[model_id].models:
                if placed.setdefault(other, plan.name) != plan.name:
                    raise ConfigError(
                        f"config key 'ray.groups.{plan.name}': {model_id!r} shares weights with {other!r}, which "
                        f"is in group {placed[other]!r}; models sharing weights go in one group")
                if other not in ids:
                    ids.append(other)
        plans[index] = GroupPlan(name=plan.name, models=tuple(ids),
                                 config=plan.config.model_copy(update={"models": ids}), bytes=_bytes_of(ids, served))
    rest = {unit.models: unit for unit in unit_of.values() if unit.models[0] not in placed}
    plans.extend(pack(list(rest.values()), settings, start=len(plans) + 1))
    return plans


def _bytes_of(ids: list[str], served: list[ModelSpec]) -> int:
    wanted = set(ids)
    return sum(unit.bytes for unit in units([row for row in served if row.id in wanted]))


def pack(loose: list[Unit], settings: Settings, start: int = 1) -> list[GroupPlan]:
    """First fit, largest unit first, into groups of at most `ray.group_bytes`."""
    capacity = settings.ray.group_bytes
    bins: list[list[Unit]] = []
    for unit in sorted(loose, key=lambda unit: -unit.bytes):
        for members in bins:
            if sum(member.bytes for member in members) + unit.bytes <= capacity:
                members.append(unit)
                break
        else:
            bins.append([unit])
    defaults = RayGroup(models=["-"], num_cpus=settings.ray.default_num_cpus, num_gpus=settings.ray.default_num_gpus)
    plans = []
    for number, members in enumerate(bins, start=start):
        ids = tuple(model_id for unit in members for model_id in unit.models)
        config = defaults.model_copy(update={"models": list(ids)})
        plans.append(GroupPlan(name=f"group-{number}", models=ids, config=config,
                               bytes=sum(unit.bytes for unit in members)))
    return plans
