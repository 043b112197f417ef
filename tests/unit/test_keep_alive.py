"""How long an idle model stays: the config's defaults per row, a load call's override, the idle clock."""

import time

import pytest

from models_server.catalog import build_catalog, catalog_rows
from models_server.config import load_settings
from models_server.errors import ConfigError
from models_server.runtime.keep_alive import NEVER, KeepAlive
from models_server.runtime.slots import SlotTable, State

ROWS = build_catalog(catalog_rows())
PRELOADED, LAZY, CONFIGURED = "canny-control", "lllyasviel/sd-controlnet-seg", "lllyasviel/sd-controlnet-hed"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table():
    """Three loaded models (a placeholder object each), an unload that records."""
    clock = Clock()
    settings = load_settings(None, {"keep_alive": 60, "models": {CONFIGURED: {"keep_alive": 5}}}, environ={})
    slots = SlotTable((ROWS[model_id], State.LOADING, None) for model_id in (PRELOADED, LAZY, CONFIGURED))
    for model_id in (PRELOADED, LAZY, CONFIGURED):
        slots.loaded(model_id, object(), 0.1)
        slots._slots[model_id].loaded_at = clock.now  # the slot's own clock is the wall clock
    unloaded: list[str] = []

    def unload_idle(model_id: str) -> bool:
        unloaded.append(model_id)
        slots.unloaded(model_id)
        return True

    keep_alive = KeepAlive(settings, slots, [PRELOADED, CONFIGURED], unload_idle, clock)
    return keep_alive, slots, clock, unloaded


def test_preloaded_rows_stay_lazy_rows_take_the_default_and_a_config_line_wins(table):
    keep_alive, slots, clock, unloaded = table
    assert (keep_alive.seconds(PRELOADED), keep_alive.seconds(LAZY), keep_alive.seconds(CONFIGURED)) == (NEVER, 60, 5)
    clock.now += 10
    assert keep_alive.expires_in(slots.view(PRELOADED)) is None
    assert keep_alive.expires_in(slots.view(LAZY)) == 50
    assert keep_alive.check() == [CONFIGURED] and unloaded == [CONFIGURED]
    clock.now += 50
    assert keep_alive.check() == [LAZY]
    assert keep_alive.expires_in(slots.view(LAZY)) is None  # not loaded: nothing counts down


def test_a_model_in_use_does_not_count_down_and_its_clock_restarts_when_it_is_done(table):
    keep_alive, slots, clock, _ = table
    slots.enter(LAZY, limit=8)
    clock.now += 100
    assert keep_alive.expires_in(slots.view(LAZY)) is None and LAZY not in keep_alive.check()
    slots.leave(LAZY)
    clock.now = slots.view(LAZY).last_used  # the moment it left
    assert keep_alive.expires_in(slots.view(LAZY)) == 60


def test_a_load_calls_keep_alive_holds_until_the_model_leaves(table):
    keep_alive, slots, clock, _ = table
    keep_alive.ask(LAZY, NEVER)
    clock.now += 10_000
    assert keep_alive.check() == [CONFIGURED]
    keep_alive.ask(PRELOADED, 30)  # the idle clock restarts at the call
    clock.now += 20
    assert keep_alive.expires_in(slots.view(PRELOADED)) == 10
    keep_alive.forget(LAZY)
    assert keep_alive.seconds(LAZY) == 60


@pytest.mark.parametrize("value", [-2, -0.5])
def test_a_keep_alive_below_zero_other_than_minus_one_is_refused(value):
    with pytest.raises(ConfigError, match="keep_alive"):
        load_settings(None, {"keep_alive": value}, environ={})
    with pytest.raises(ConfigError, match="keep_alive"):
        load_settings(None, {"models": {LAZY: {"keep_alive": value}}}, environ={})
