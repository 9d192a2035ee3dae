"""Camera snapshots as PNG files (``bc-ros sim --snapshot DIR``)."""

from __future__ import annotations

import os

import numpy as np


def contact_sheet(images: dict[str, np.ndarray], overview: np.ndarray | None = None,
                  height: int = 240) -> np.ndarray:
    """The camera images side by side (scaled to ``height``), the overview after them."""
    import cv2

    frames = list(images.values()) + ([overview] if overview is not None else [])
    scaled = [cv2.resize(f, (max(1, round(f.shape[1] * height / f.shape[0])), height),
                         interpolation=cv2.INTER_NEAREST if f.shape[0] < height
                         else cv2.INTER_AREA) for f in frames]
    gap = np.full((height, 4, 3), 255, np.uint8)
    row = [scaled[0]]
    for f in scaled[1:]:
        row += [gap, f]
    return np.concatenate(row, axis=1)


def write_snapshot(directory: str, prefix: str, images: dict[str, np.ndarray],
                   overview: np.ndarray | None = None) -> list[str]:
    """Write ``{prefix}_{camera}.png`` for each rgb image, ``{prefix}_overview.png`` and
    ``{prefix}_sheet.png`` (all of them side by side)."""
    import cv2

    os.makedirs(directory, exist_ok=True)
    frames = dict(images)
    if overview is not None:
        frames["overview"] = overview
    frames["sheet"] = contact_sheet(images, overview)
    paths = []
    for name, rgb in frames.items():
        path = os.path.join(directory, f"{prefix}_{name}.png")
        if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
            raise OSError(f"could not write snapshot {path}")
        paths.append(path)
    return paths
