"""Before a long run: are these two sets usable, and what should be reshot?

Cheap image statistics on the developed photos, each tied to what the learning needs: detail
(flat patches carry no blur information), focus (the sharp set must really be sharper at the
centre, where the clean patches come from), consistent exposure, and few clipped highlights
(clipping breaks the linear blur model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import ndimage

from lenscal.develop import DevelopSettings
from lenscal.io.images import srgb_encode
from lenscal.io.shoot import check_compatible, scan_shoot

TILE = 64
TEXTURE_MIN = 0.02  # RMS gradient (sRGB-encoded luminance) of a tile with usable detail
RECOMMENDED = 6


@dataclass
class PhotoStats:
    file: str
    set: str
    textured: float  # fraction of tiles with detail
    acutance: float  # high-frequency share of the centre's detail (higher = sharper)
    exposure_ev: float  # log2 median luminance
    clipped: float  # fraction of pixels with a channel at white


def photo_stats(pixels: np.ndarray, name: str, which: str) -> PhotoStats:
    luma = srgb_encode(pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32))
    gy, gx = np.gradient(luma)
    grad = np.hypot(gy, gx)
    h, w = luma.shape
    tiles = grad[: h - h % TILE, : w - w % TILE].reshape(h // TILE, TILE, w // TILE, TILE)
    tile_rms = np.sqrt((tiles**2).mean(axis=(1, 3)))
    ch, cw = h // 4, w // 4
    centre = luma[ch:h - ch, cw:w - cw]
    lap = ndimage.laplace(centre)
    cg = grad[ch:h - ch, cw:w - cw]
    acutance = float(np.sqrt((lap**2).mean()) / max(np.sqrt((cg**2).mean()), 1e-9))
    median = float(np.median(pixels @ np.array([0.2126, 0.7152, 0.0722], np.float32)))
    return PhotoStats(name, which, float((tile_rms > TEXTURE_MIN).mean()), acutance,
                      math.log2(max(median, 1e-6)), float((pixels >= 0.99).any(axis=2).mean()))


def check_sets(sharp_dir: Path, blurry_dir: Path, settings: DevelopSettings = DevelopSettings(),
               progress: Callable[[str, int, int, dict], None] | None = None) -> dict:
    """Scan (refusing unusable sets outright), develop and judge both sets."""
    from lenscal.workflow import MIN_PHOTOS, develop_shoot, with_shared_white_balance

    sharp_set = scan_shoot(sharp_dir, name="sharp set", min_photos=MIN_PHOTOS)
    blurry_set = scan_shoot(blurry_dir, name="blurry set", min_photos=MIN_PHOTOS)
    check_compatible(sharp_set, blurry_set)
    settings = with_shared_white_balance(settings, sharp_set, blurry_set)  # developed as learn develops them
    stats: list[PhotoStats] = []
    for which, shoot in (("sharp", sharp_set), ("blurry", blurry_set)):
        for photo in develop_shoot(shoot, settings, f"checking {which} set", progress):
            stats.append(photo_stats(photo.pixels, photo.path.name, which))
    problems, advice = [], list(sharp_set.warnings + blurry_set.warnings)
    for which, shoot in (("sharp", sharp_set), ("blurry", blurry_set)):
        if len(shoot) < RECOMMENDED:
            advice.append(f"the {which} set has {len(shoot)} photos: {RECOMMENDED} or more give steadier PSFs")
    for s in stats:
        if s.textured < 0.3:
            advice.append(f"{s.file}: only {s.textured:.0%} of it has detail; reshoot a detailed scene "
                          "(foliage, brickwork, text) filling the frame")
        if s.clipped > 0.05:
            advice.append(f"{s.file}: {s.clipped:.0%} clipped highlights; expose a little less")
    sharp_acu = np.median([s.acutance for s in stats if s.set == "sharp"])
    blurry_acu = np.median([s.acutance for s in stats if s.set == "blurry"])
    if sharp_acu <= 1.05 * blurry_acu:
        problems.append(f"the sharp set is not sharper than the blurry set at the centre (acutance "
                        f"{sharp_acu:.3f} vs {blurry_acu:.3f}); check focus and that the folders are not swapped")
    for s in stats:
        if s.set == "sharp" and s.acutance < 0.7 * sharp_acu:
            advice.append(f"{s.file}: softer than the rest of the sharp set; it may be out of focus or shaken")
    for which in ("sharp", "blurry"):
        evs = [s.exposure_ev for s in stats if s.set == which]
        mid = float(np.median(evs))
        for s in stats:
            if s.set == which and abs(s.exposure_ev - mid) > 1.5:
                advice.append(f"{s.file}: exposure {s.exposure_ev - mid:+.1f} EV from the rest of its set")
    ev_gap = abs(np.median([s.exposure_ev for s in stats if s.set == "sharp"])
                 - np.median([s.exposure_ev for s in stats if s.set == "blurry"]))
    if ev_gap > 1.0:
        advice.append(f"the two sets differ by {ev_gap:.1f} EV in exposure: keep them within 1 EV")
    return {"usable": not problems, "problems": problems, "advice": advice,
            "photos": [asdict(s) for s in stats],
            "sharp": {"count": len(sharp_set), "f_number": sharp_set.meta.f_number},
            "blurry": {"count": len(blurry_set), "f_number": blurry_set.meta.f_number}}
