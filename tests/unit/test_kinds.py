"""Every kind of request field is defined once, with all its parts."""

import dataclasses

import pytest

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.kinds import KINDS, DecodeContext, Kind, KindSpec
from models_server.tasks.base import Field


def test_every_kind_has_every_part():
    assert set(KINDS) == set(Kind)
    required = [item.name for item in dataclasses.fields(KindSpec) if item.default is dataclasses.MISSING]
    for kind, spec in KINDS.items():
        for part in required:
            assert callable(getattr(spec, part)), f"{kind}: {part}"
        field = Field("x", kind)
        assert isinstance(spec.schema(field, Limits()), dict) and spec.schema(field, Limits())
        assert spec.sample() is not None


class NoResources:
    def read(self, ref: str, field: str) -> bytes:
        raise AssertionError("no resource should be read")


@pytest.mark.parametrize("kind", [kind for kind, spec in KINDS.items() if spec.api_part is None])
def test_every_plain_kind_converts_its_own_sample(kind):
    spec = KINDS[kind]
    sample = spec.sample()
    assert spec.convert(Field("x", kind), sample, DecodeContext(NoResources(), Limits())) == sample


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        (Kind.FLOAT, 10**309, "must be a number"),
        (Kind.INT, 10**30, "must be an integer between"),
        (Kind.TEXT, "   ", "must not be empty"),
    ],
)
def test_extreme_values_are_bad_input_not_crashes(kind, raw, message):
    field = Field("x", kind, non_empty=True)
    with pytest.raises(BadInput, match=message):
        KINDS[kind].convert(field, raw, DecodeContext(NoResources(), Limits()))
