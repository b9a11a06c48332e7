"""What the two photo sets must satisfy before learning, and how they are levelled.

The kernels sum to one per channel, so they cannot absorb an exposure or white-balance difference
between the sets: a gain (blurry = gain x blur(sharp)) starts from the ratio of the set means and
is refined in step 2. Everything else here turns a bad shoot into one clear sentence (whether the
blurry set is blurrier at all is learn.widths.compare_sets', shared with ``lenscal check``).
"""

from __future__ import annotations

import numpy as np

from lenscal.errors import ShootError


def validate(sharp: list[np.ndarray], blurry: list[np.ndarray], minimum_side: int) -> tuple[int, int]:
    """(height, width) shared by every photo, or a ShootError saying what is wrong."""
    for name, images in (("sharp", sharp), ("blurry", blurry)):
        if len(images) < 2:
            raise ShootError(f"the {name} set needs at least 2 photos, got {len(images)}")
        for i, img in enumerate(images):
            if img.ndim != 3 or img.shape[2] != 3:
                raise ShootError(f"{name} photo {i + 1} is not an RGB image (shape {img.shape})")
    shapes = {img.shape for img in sharp + blurry}
    if len(shapes) != 1:
        raise ShootError("all photos must have the same size and orientation, found "
                         + ", ".join(f"{s[1]}x{s[0]}" for s in sorted(shapes)))
    height, width = sharp[0].shape[:2]
    if min(height, width) < minimum_side:
        raise ShootError(f"photos of {width}x{height} px are too small to learn from",
                         hint=f"at least {minimum_side} px a side")
    return height, width


def channel_means(images: list[np.ndarray], stride: int = 4) -> np.ndarray:
    """Per-channel mean over a set (subsampled: a mean needs no more)."""
    return np.mean([img[::stride, ::stride].reshape(-1, 3).mean(0) for img in images], axis=0).astype(np.float64)
