"""Florenz scaling."""
