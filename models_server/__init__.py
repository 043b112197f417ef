"""models_server: the local model endpoint of a HuggingGPT-style controller."""

__version__ = "0.1.0"
