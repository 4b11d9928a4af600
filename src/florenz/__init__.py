"""Florenz: vision-language models that learn to caption in languages seen only in translation."""

__version__ = "0.1.0"
