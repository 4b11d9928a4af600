"""Florenz eval."""
