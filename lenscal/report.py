"""Pictures, because people would rather look than read: PSF grids and before/after crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lenscal.io.atomic import write_bytes_atomic
from lenscal.io.images import encode_picture, srgb_encode


def _encode_png(path: Path, rgb8: np.ndarray, command: str = "learn") -> None:
    """Write an RGB picture as a PNG carrying lenscal's note (so it is known as lenscal's own)."""
    write_bytes_atomic(path, encode_picture(rgb8, "png", {"command": command}))


def psf_grid_image(grid: np.ndarray, zoom: int = 8, gap: int = 4, gamma: float = 0.5) -> np.ndarray:
    """An (H, W, 3) uint8 mosaic of every node's RGB kernel, laid out like the sensor.

    Each node is scaled to its own peak and gamma-brightened so that tails and colour fringes
    (lateral colour shows as red and blue offsets) stay visible.
    """
    rows, cols, _, k, _ = grid.shape
    cell = k * zoom
    canvas = np.full((rows * (cell + gap) + gap, cols * (cell + gap) + gap, 3), 40, np.uint8)
    for r in range(rows):
        for c in range(cols):
            kern = np.transpose(grid[r, c], (1, 2, 0)).astype(np.float64)
            kern = np.clip(kern / max(kern.max(), 1e-12), 0, 1) ** gamma
            tile = np.kron(kern, np.ones((zoom, zoom, 1)))
            y, x = gap + r * (cell + gap), gap + c * (cell + gap)
            canvas[y:y + cell, x:x + cell] = np.round(tile * 255).astype(np.uint8)
    return canvas


def save_psf_grid(grid: np.ndarray, path: Path, truth: np.ndarray | None = None) -> None:
    """Write the PSF grid picture (learned beside the truth when the truth is known)."""
    img = psf_grid_image(grid)
    if truth is not None:
        spacer = np.full((img.shape[0], 16, 3), 255, np.uint8)
        img = np.concatenate([img, spacer, psf_grid_image(truth)], axis=1)
    _encode_png(path, img)


def save_before_after(pairs: list[tuple[np.ndarray, np.ndarray]], path: Path, zoom: int = 2,
                      labels: tuple[str, str] = ("before", "after")) -> None:
    """Rows of (before | after) linear crops, sRGB-encoded and enlarged with nearest neighbour."""
    rows = []
    for before, after in pairs:
        b = np.round(srgb_encode(before) * 255).astype(np.uint8)
        a = np.round(srgb_encode(after) * 255).astype(np.uint8)
        b = np.kron(b, np.ones((zoom, zoom, 1), np.uint8))
        a = np.kron(a, np.ones((zoom, zoom, 1), np.uint8))
        rows.append(np.concatenate([b, np.full((b.shape[0], 8, 3), 255, np.uint8), a], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    img = np.concatenate(rows, axis=0)
    header = np.full((28, img.shape[1], 3), 255, np.uint8)
    half = (img.shape[1] - 8) // 2
    for text, x in ((labels[0], 6), (labels[1], half + 14)):
        cv2.putText(header, text, (x, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    _encode_png(path, np.concatenate([header, img], axis=0))


def crop_positions(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """Top-left corners of crops at the centre, a border and a corner: where lenses differ most."""
    size = min(size, height, width)
    return [((height - size) // 2, (width - size) // 2), ((height - size) // 2, 0), (0, 0),
            (height - size, width - size)]


def _heat_map(values: np.ndarray, cell: int, label: str, unit: str) -> np.ndarray:
    """A rows x cols map, each cell coloured by its value (viridis) and labelled with it."""
    rows, cols = values.shape
    lo, hi = float(values.min()), float(values.max())
    norm = np.zeros_like(values) if hi - lo < 1e-9 else (values - lo) / (hi - lo)
    colours = cv2.applyColorMap(np.round(norm * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    img = np.kron(colours, np.ones((cell, cell, 1), np.uint8)).copy()
    for r in range(rows):
        for c in range(cols):
            text = f"{values[r, c]:.1f}"
            colour = (0, 0, 0) if norm[r, c] > 0.5 else (255, 255, 255)
            cv2.putText(img, text, (c * cell + 6, r * cell + cell // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)
    return _titled(img, f"{label} ({unit}, {lo:.2f}-{hi:.2f})")


def _lateral_colour_map(lc: np.ndarray, cell: int, magnify: float = 15.0) -> np.ndarray:
    """Arrows per node: R-G offset in red, B-G in blue, magnified so sub-pixel shifts show."""
    rows, cols = lc.shape[:2]
    img = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            centre = (c * cell + cell // 2, r * cell + cell // 2)
            cv2.rectangle(img, (c * cell, r * cell), ((c + 1) * cell - 1, (r + 1) * cell - 1), (220, 220, 220), 1)
            for (dy, dx), colour in zip(lc[r, c], ((220, 30, 30), (30, 30, 220))):
                tip = (int(round(centre[0] + magnify * dx)), int(round(centre[1] + magnify * dy)))
                cv2.arrowedLine(img, centre, tip, colour, 2, cv2.LINE_AA, tipLength=0.25)
    peak = float(np.linalg.norm(lc, axis=-1).max())
    return _titled(img, f"lateral colour x{magnify:g} (R-G red, B-G blue; max {peak:.2f} px)")


def _titled(img: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((26, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def profile_sheet(grid: np.ndarray) -> tuple[np.ndarray, dict]:
    """One picture of a profile (PSF grid, blur size map, lateral colour map) and its numbers."""
    import torch

    from lenscal.optics.psf import fwhm, lateral_colour

    g = torch.as_tensor(grid, dtype=torch.float64)
    blur = fwhm(g).mean(-1).numpy()  # (rows, cols), mean over R, G, B
    lc = lateral_colour(g).numpy()  # (rows, cols, 2, 2)
    psf_img = _titled(psf_grid_image(grid), "PSF per node (R, G, B; brightened)")
    cell = max(40, (psf_img.shape[1]) // grid.shape[1])
    parts = [psf_img, _heat_map(blur, cell, "blur size: FWHM", "px"), _lateral_colour_map(lc, cell)]
    height = max(p.shape[0] for p in parts)
    parts = [np.pad(p, ((0, height - p.shape[0]), (0, 12), (0, 0)), constant_values=255) for p in parts]
    lc_norm = np.linalg.norm(lc, axis=-1)
    numbers = {"fwhm_px_mean": float(blur.mean()), "fwhm_px_min": float(blur.min()), "fwhm_px_max": float(blur.max()),
               "fwhm_px_centre": float(blur[blur.shape[0] // 2, blur.shape[1] // 2]),
               "lateral_colour_px_max": float(lc_norm.max()), "lateral_colour_px_mean": float(lc_norm.mean())}
    return np.concatenate(parts, axis=1), numbers


def save_profile_sheet(grid: np.ndarray, path: Path) -> dict:
    img, numbers = profile_sheet(grid)
    _encode_png(path, img, command="show")
    return numbers
