"""Camera snapshots as PNG files (``bc-ros sim --snapshot DIR``)."""

from __future__ import annotations

import os

import numpy as np


def write_snapshot(directory: str, prefix: str, images: dict[str, np.ndarray],
                   overview: np.ndarray | None = None) -> list[str]:
    """Write ``{prefix}_{camera}.png`` for each rgb image (and ``{prefix}_overview.png``)."""
    import cv2

    os.makedirs(directory, exist_ok=True)
    frames = dict(images)
    if overview is not None:
        frames["overview"] = overview
    paths = []
    for name, rgb in frames.items():
        path = os.path.join(directory, f"{prefix}_{name}.png")
        if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
            raise OSError(f"could not write snapshot {path}")
        paths.append(path)
    return paths
