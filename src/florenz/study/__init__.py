"""Florenz study."""
