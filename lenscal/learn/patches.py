"""Position-tagged patch sampling in the one coordinate convention (normalised full frame).

Pixel (i, j) of an H x W image sits at (i / (H - 1), j / (W - 1)). A patch is described by the
full-frame pixel of its top-left corner; its position map and its centre follow from that, so
step 1 (real blurry patches) and step 2 (sharp crops at their own place, or centre crops given a
random place on the frame) share exactly the same slopes and range. Sampling gathers only the requested pixels with fancy
indexing: no per-patch copy of a full image is ever made.
"""

from __future__ import annotations

import numpy as np
import torch


def random_corners(n: int, height: int, width: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Top-left full-frame pixels (n, 2) of uniformly random size x size windows."""
    r = torch.randint(0, height - size + 1, (n,), generator=gen)
    c = torch.randint(0, width - size + 1, (n,), generator=gen)
    return torch.stack([r, c], dim=1)


def centres(corners: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """Normalised (row, col) of the centre of each window: the mean of its position map."""
    scale = torch.tensor([max(height - 1, 1), max(width - 1, 1)], dtype=torch.float32)
    return (corners.float() + (size - 1) / 2) / scale


def position_maps(corners: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """Position channels (n, 2, size, size) in [-1, 1]: row and column of every pixel."""
    ramp = torch.arange(size, dtype=torch.float32)
    rows = (corners[:, 0, None].float() + ramp) / max(height - 1, 1)
    cols = (corners[:, 1, None].float() + ramp) / max(width - 1, 1)
    maps = torch.stack([rows[:, :, None].expand(-1, size, size), cols[:, None, :].expand(-1, size, size)], 1)
    return maps * 2 - 1


def gather(images: list[np.ndarray], index: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """Patches (n, 3, size, size) float32 of ``images[index]`` at ``corners``."""
    out = torch.empty((len(index), 3, size, size), dtype=torch.float32)
    ramp = np.arange(size)
    idx = index.numpy()
    cor = corners.numpy()
    for i in np.unique(idx):
        sel = np.nonzero(idx == i)[0]
        rr = cor[sel, 0, None, None] + ramp[None, :, None]
        cc = cor[sel, 1, None, None] + ramp[None, None, :]
        out[torch.from_numpy(sel)] = torch.from_numpy(np.ascontiguousarray(images[i][rr, cc].transpose(0, 3, 1, 2)))
    return out


def sample_blurry(images: list[np.ndarray], n: int, size: int, gen: torch.Generator,
                  replace: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random real patches with their position maps and centres.

    With probability ``replace`` a patch's position is swapped for another random window's, so a
    small net cannot memorise the content found at each place (the paper's location replacement).
    """
    height, width = images[0].shape[:2]
    index = torch.randint(0, len(images), (n,), generator=gen)
    corners = random_corners(n, height, width, size, gen)
    patches = gather(images, index, corners, size)
    corners = replace_corners(corners, replace, height, width, size, gen)
    return patches, position_maps(corners, size, height, width), centres(corners, size, height, width)


def replace_corners(corners: torch.Tensor, probability: float, height: int, width: int, size: int,
                    gen: torch.Generator) -> torch.Tensor:
    """``corners`` with each swapped, with ``probability``, for another random window's."""
    if probability <= 0:
        return corners
    other = random_corners(len(corners), height, width, size, gen)
    swap = torch.rand(len(corners), generator=gen) < probability
    return torch.where(swap[:, None], other, corners)


def centre_crop(image: np.ndarray, fraction: float, minimum: int, maximum: int) -> np.ndarray:
    """The central region of an image (a copy, channels first) where the sharp lens is best."""
    height, width = image.shape[:2]
    h = int(min(max(round(height * fraction), minimum), height, maximum))
    w = int(min(max(round(width * fraction), minimum), width, maximum))
    r0, c0 = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(image[r0:r0 + h, c0:c0 + w].transpose(2, 0, 1), dtype=np.float32)


def sample_own_place(images: list[np.ndarray], n: int, size: int, kernel_size: int,
                     gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sharp crops of size + K - 1 from whole sharp photos (H, W, 3), each at its own place.

    The place's content is what the sharp photos hold there (a subject in the middle, sky at the
    top), as the blurry photos do at the same place: like is compared with like, so the scenes'
    composition is not read as blur. Returns (crops, maps, centres) as :func:`sample_clean`.
    """
    big = size + kernel_size - 1
    height, width = images[0].shape[:2]
    half = (kernel_size - 1) // 2
    index = torch.randint(0, len(images), (n,), generator=gen)
    corners = random_corners(n, height - 2 * half, width - 2 * half, size, gen) + half
    x = gather(images, index, corners - half, big)
    return x, position_maps(corners, size, height, width), centres(corners, size, height, width)


def sample_clean(crops: torch.Tensor, n: int, size: int, kernel_size: int, frame: tuple[int, int],
                 gen: torch.Generator, replace: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sharp crops of size + K - 1 from the centre crops (N, 3, h, w), each given a random place.

    The place is a random ``size`` window of the full frame (height, width), with exactly the
    step-1 position maps; its centre selects the kernel. Returns (crops, maps, centres).
    With ``replace``, the maps (not the centres: the kernel stays that of the place) are swapped
    as :func:`sample_blurry` swaps the real patches', so that a flow model trained on these
    learns the same position-diluted distribution as one trained on the real patches.
    """
    big = size + kernel_size - 1
    m, _, h, w = crops.shape
    index = torch.randint(0, m, (n,), generator=gen)
    src = random_corners(n, h, w, big, gen)
    ramp = torch.arange(big)
    rr = (src[:, 0, None] + ramp)[:, :, None]
    cc = (src[:, 1, None] + ramp)[:, None, :]
    x = crops[index[:, None, None, None], torch.arange(3)[None, :, None, None], rr[:, None], cc[:, None]]
    height, width = frame
    corners = random_corners(n, height, width, size, gen)
    maps = position_maps(replace_corners(corners, replace, height, width, size, gen), size, height, width)
    return x, maps, centres(corners, size, height, width)


def model_view(y: torch.Tensor) -> torch.Tensor:
    """What the flow models see of level-scaled linear patches ``y``: [0, 1] mapped to [-1, 1].

    One function for real and simulated patches, so both sides of step 2 always agree. (Dividing
    each patch by its own mean, to make the view blind to exposure, learned worse kernels; the
    exposure is left to step 2's learned gains instead.)
    """
    return 2 * y - 1
