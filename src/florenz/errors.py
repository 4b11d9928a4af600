"""The one user-facing error type: its message names the thing that is wrong and the fix."""


class FlorenzError(RuntimeError):
    """Raised for bad user input (files, configs, checkpoints); the CLI prints it without a traceback."""
