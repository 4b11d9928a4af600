"""Florenz model."""
