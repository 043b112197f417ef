"""The runtime: loading the tier, keeping it within memory budgets, running requests on it."""

from models_server.runtime.admission import Ticket
from models_server.runtime.residency import Budgets
from models_server.runtime.runtime import Runtime
from models_server.runtime.slots import SERVABLE, SlotView, State
from models_server.runtime.view import RuntimeView

__all__ = ["SERVABLE", "Budgets", "Runtime", "RuntimeView", "SlotView", "State", "Ticket"]
