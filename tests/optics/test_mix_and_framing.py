"""The maths of profile sets: kernels between two lens states (optics.mix) and a photo's place on
the calibration frame (optics.framing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenscal.optics.framing import NoMapping, crop_grid, is_mirror_symmetric, map_grid, place, turn_grid
from lenscal.optics.mix import log_weight, mix_kernels, mix_pixels
from lenscal.optics.psf import centroid, gaussian, interpolate, mirror_average, relative_l2, second_moment


def test_log_weight_is_the_position_in_log_f_number():
    assert log_weight(8, 16, 8) == 0 and log_weight(8, 16, 16) == 1
    assert log_weight(8, 16, 11) == pytest.approx(math.log(11 / 8) / math.log(2))
    assert log_weight(8, 16, 8 * math.sqrt(2)) == pytest.approx(0.5)  # one stop is the middle in log N


def test_mixed_kernels_move_and_widen_as_the_optics_do():
    """Two Gaussians of widths 1 and 2 px at different places, a family that only changes scale
    and place: stretched all the way, the mix is the Gaussian of the geometric mean width at the
    interpolated place; lenscal's halfway stretch comes close to it, and both are far closer than
    mixing pixels (a peak on a pedestal, two images when the centroids differ)."""
    a = gaussian(1.0, 15, dy=0.6, dx=-0.8).numpy()
    b = gaussian(2.0, 15, dy=-0.6, dx=0.8).numpy()
    assert np.array_equal(mix_kernels(a, b, 0.0), a.astype(np.float32))
    assert np.array_equal(mix_kernels(a, b, 1.0), b.astype(np.float32))
    for t in (0.3, 0.5):
        truth = gaussian(2.0**t, 15, dy=0.6 - 1.2 * t, dx=-0.8 + 1.6 * t).numpy()
        pixels = relative_l2(mix_pixels(a, b, t), truth)
        for stretch, tolerance in ((1.0, 0.03), (0.5, 0.06)):
            m = mix_kernels(a, b, t, stretch=stretch)
            assert np.allclose(centroid(m).numpy(), [0.6 - 1.2 * t, -0.8 + 1.6 * t], atol=0.02)
            assert second_moment(m).item() == pytest.approx(second_moment(truth).item(), rel=0.05)
            assert abs(m.sum() - 1) < 1e-5 and m.min() >= 0
            assert relative_l2(m, truth) < tolerance < 0.25 < pixels


def test_mix_works_node_by_node_and_channel_by_channel():
    sig = np.array([[0.8, 1.0, 1.2], [1.0, 1.2, 1.4]])[..., None].repeat(3, -1)  # (2, 3 nodes, 3 channels)
    a = gaussian(sig, 13, dy=0.3).numpy()
    b = gaussian(2 * sig, 13, dy=-0.3).numpy()
    m = mix_kernels(a, b, 0.5)
    assert m.shape == a.shape
    widths = np.sqrt(second_moment(m).numpy())
    assert np.all(widths > np.sqrt(second_moment(a).numpy())) and np.all(widths < np.sqrt(second_moment(b).numpy()))
    assert np.allclose(centroid(m).numpy()[..., 0], 0.0, atol=0.02)


def test_place_maps_turned_and_centred_crops_and_refuses_the_rest():
    frame = (6000, 4000)
    assert place(frame, (6000, 4000), raw=True).identity
    turned = place(frame, (4000, 6000), raw=False)
    assert turned.turned and turned.describe() == "turned a quarter"
    with pytest.raises(NoMapping):  # a RAW file is never turned
        place(frame, (4000, 6000), raw=True)
    crop = place(frame, (6000, 3376), raw=True)  # 16:9 from 3:2 keeps the width
    assert crop.origin == (312.0, 0.0) and crop.describe() == "a centred 6000x3376 crop"
    assert place(frame, (4000, 4000), raw=False).origin == (0.0, 1000.0)  # 1:1 keeps the height
    for photo, why in (((4000, 3000), "cannot tell where on the sensor"), ((3000, 2000), "resized"),
                       ((7000, 4000), "larger")):
        with pytest.raises(NoMapping, match=why) as e:
            place(frame, photo, raw=True)
        assert str(e.value).startswith(f"photo is {photo[0]}x{photo[1]}, profile is for 6000x4000")


def _grid(rows: int = 3, cols: int = 4) -> np.ndarray:
    """Kernels that differ node by node (width, offset), so a wrong node shows."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    sigma = (1 + 0.2 * r + 0.1 * c)[..., None].repeat(3, -1)
    return gaussian(sigma, 13, dy=(0.3 * (r - 1))[..., None], dx=(0.2 * (c - 1.5))[..., None]).numpy()


def test_turning_a_grid_turns_its_nodes_and_their_kernels():
    g = _grid()
    t = turn_grid(g)  # a quarter anticlockwise: the top-right node comes to the top-left
    assert t.shape == (4, 3, 3, 13, 13)
    dy, dx = centroid(g[0, 3, 1]).numpy()
    assert np.allclose(centroid(t[0, 0, 1]).numpy(), [-dx, dy], atol=1e-6)  # right becomes up, up left
    assert np.allclose(turn_grid(turn_grid(turn_grid(turn_grid(g)))), g)


def test_a_turned_photo_needs_a_mirror_symmetric_grid():
    g = _grid()
    sym = mirror_average(g).numpy()
    assert is_mirror_symmetric(sym) and not is_mirror_symmetric(g)
    where = place((128, 96), (96, 128), raw=False)
    assert map_grid(sym, (128, 96), where).shape == (4, 3, 3, 13, 13)
    with pytest.raises(NoMapping, match="not mirror-symmetric"):
        map_grid(g, (128, 96), where)


def test_a_crop_takes_the_kernels_where_its_nodes_fall_on_the_frame():
    import torch

    g = _grid()
    where = place((129, 97), (129, 49), raw=True)  # the middle half of the rows
    cropped = crop_grid(g, (129, 97), where.origin, where.size)
    assert cropped.shape == g.shape
    # the crop's top-left node is at y = 24 of 96 on the frame, x = 0: interpolated there
    expect = interpolate(torch.as_tensor(g, dtype=torch.float64), torch.tensor([[24 / 96, 0.0]], dtype=torch.float64))
    assert np.allclose(cropped[0, 0], expect.numpy()[0], atol=1e-6)
    # the middle row of nodes of the crop is the middle of the frame, as the frame's middle row is
    assert np.allclose(cropped[1], g[1], atol=1e-6)
