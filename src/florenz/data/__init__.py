"""Florenz data."""
