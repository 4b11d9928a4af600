"""Writing fixture files the way the real datasets publish them (shared by the readers' tests)."""

import gzip
from pathlib import Path


def write_lines(path: Path, lines: list[str], packed: bool = False) -> None:
    """One line per entry; `packed` gzips it to PATH.gz, as the Multi30K repository ships its raw files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    if packed:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
