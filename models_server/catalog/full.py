"""The full tier's models."""

from __future__ import annotations

from models_server.catalog import ModelSpec

MODELS: list[ModelSpec] = []
