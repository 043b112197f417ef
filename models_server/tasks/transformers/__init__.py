"""Implementations that run on Hugging Face transformers: vision, text, speech, audio classification."""
