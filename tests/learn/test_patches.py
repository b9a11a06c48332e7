"""Patch sampling keeps the one coordinate convention and copies only what it returns."""

from __future__ import annotations

import numpy as np
import torch

from lenscal.learn import patches
from lenscal.optics.psf import interpolate, node_positions


def _coded_images(n: int, h: int, w: int) -> list[np.ndarray]:
    """Images whose pixels encode (image, row, col), so every gathered pixel can be checked."""
    rows, cols = np.mgrid[0:h, 0:w]
    return [np.stack([np.full((h, w), i), rows, cols], -1).astype(np.float32) for i in range(n)]


def test_blurry_patches_carry_their_own_full_frame_coordinates():
    h, w, p = 40, 70, 8
    imgs = _coded_images(3, h, w)
    gen = torch.Generator().manual_seed(0)
    x, maps, centres = patches.sample_blurry(imgs, 50, p, gen, replace=0.0)
    assert x.shape == (50, 3, p, p) and maps.shape == (50, 2, p, p)
    # the pixel content says where it came from; the position map must say the same
    assert torch.allclose((maps[:, 0] + 1) / 2 * (h - 1), x[:, 1], atol=1e-3)
    assert torch.allclose((maps[:, 1] + 1) / 2 * (w - 1), x[:, 2], atol=1e-3)
    # the centre is the mean of the map, in [0, 1]
    assert torch.allclose(centres, (maps.mean((2, 3)) + 1) / 2, atol=1e-5)
    assert len(set(x[:, 0, 0, 0].tolist())) > 1  # several images were drawn


def test_full_range_of_positions_is_reachable():
    maps = patches.position_maps(torch.tensor([[0, 0], [32, 62]]), 8, 40, 70)
    assert float(maps[0].min()) == -1.0 and float(maps[1, 0].max()) == 1.0 and float(maps[1, 1].max()) == 1.0


def test_position_replacement_decouples_content_from_place():
    imgs = _coded_images(1, 60, 60)
    gen = torch.Generator().manual_seed(1)
    x, maps, _ = patches.sample_blurry(imgs, 400, 8, gen, replace=0.2)
    moved = ((maps[:, 0, 0, 0] + 1) / 2 * 59 - x[:, 1, 0, 0]).abs() > 0.5
    assert 0.1 < float(moved.float().mean()) < 0.3


def test_own_place_crops_come_from_where_they_are_shown():
    # each crop holds the sharp frame's pixels around the very place its position map names, with
    # the kernel's half-width of context on every side
    h, w, p, k = 40, 70, 8, 5
    gen = torch.Generator().manual_seed(3)
    x, maps, centres = patches.sample_own_place(_coded_images(2, h, w), 200, p, k, gen)
    assert x.shape == (200, 3, p + k - 1, p + k - 1)
    inner = x[:, :, k // 2:k // 2 + p, k // 2:k // 2 + p]
    assert torch.allclose((maps[:, 0] + 1) / 2 * (h - 1), inner[:, 1], atol=1e-3)
    assert torch.allclose((maps[:, 1] + 1) / 2 * (w - 1), inner[:, 2], atol=1e-3)
    assert torch.allclose(centres, (maps.mean((2, 3)) + 1) / 2, atol=1e-5)
    assert float(maps.min()) < -0.8 and float(maps.max()) > 0.8  # the whole frame is reached
    assert len(set(x[:, 0, 0, 0].tolist())) == 2


def test_centre_crops_and_random_places():
    h, w = 50, 80
    img = _coded_images(1, h, w)[0]
    crop = patches.centre_crop(img, 0.4, 10, 1000)
    assert crop.shape == (3, 20, 32)
    assert crop[1, 0, 0] == (h - 20) // 2 and crop[2, 0, 0] == (w - 32) // 2
    gen = torch.Generator().manual_seed(2)
    crops = torch.from_numpy(np.stack([crop]))
    x, maps, centres = patches.sample_clean(crops, 200, 8, 5, (1000, 2000), gen)
    assert x.shape == (200, 3, 12, 12)
    # the content comes from the centre crop only ...
    assert x[:, 1].min() >= (h - 20) // 2 and x[:, 1].max() < (h - 20) // 2 + 20
    # ... contiguous windows of it ...
    assert torch.all(x[:, 2, :, 1:] - x[:, 2, :, :-1] == 1)
    # ... but the places spread over the whole (other-sized) frame
    assert centres.min() < 0.1 and centres.max() > 0.9
    assert torch.allclose(centres, (maps.mean((2, 3)) + 1) / 2, atol=1e-5)


def test_clean_patches_get_the_same_replacement_but_keep_their_kernel_place():
    """The aux model must see simulated patches with the location replacement the real model
    sees real ones with; the kernel still follows the true place (the centres)."""
    crops = torch.from_numpy(np.stack([patches.centre_crop(_coded_images(1, 50, 80)[0], 0.4, 10, 1000)]))
    gen = torch.Generator().manual_seed(3)
    _, maps, centres = patches.sample_clean(crops, 1000, 8, 5, (1000, 2000), gen, replace=0.2)
    moved = ((centres - (maps.mean((2, 3)) + 1) / 2).abs() > 1e-4).any(1)
    assert 0.15 < float(moved.float().mean()) < 0.25
    gen = torch.Generator().manual_seed(3)
    _, maps0, centres0 = patches.sample_clean(crops, 1000, 8, 5, (1000, 2000), gen)
    assert torch.equal(centres0, centres)  # the places (and kernels) are those drawn without replacement
    assert torch.equal(maps0[~moved], maps[~moved])


def test_interpolation_convention_node_00_is_top_left():
    grid = torch.zeros(2, 3, 3, 3, 3, dtype=torch.float64)
    for r in range(2):
        for c in range(3):
            grid[r, c] = r * 10 + c
    pos = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.5], [0.5, 0.25]], dtype=torch.float64)
    k = interpolate(grid, pos)[:, 0, 0, 0]
    assert k.tolist() == [0.0, 12.0, 1.0, 5.5]
    assert np.allclose(node_positions(2, 3)[1, 2], [1.0, 1.0])
