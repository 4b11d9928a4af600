"""Florenz train."""
