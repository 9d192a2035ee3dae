"""What every benchmark does with its figures: JSON written whole (a temporary file and a rename,
so an interrupted run never leaves half a file in docs/figures/)."""

from __future__ import annotations

import json
import os


def write_json(path: str | None, data, indent: int = 2) -> None:
    """Write ``data`` to ``path`` (nothing when ``path`` is empty: no --json given)."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=indent)
    os.replace(path + ".tmp", path)
