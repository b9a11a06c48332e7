from __future__ import annotations

import numpy as np
import pytest
import torch

from lenscal.optics import psf


def _grid(rows=3, cols=4, k=13):
    sig = np.linspace(0.6, 2.0, rows * cols).reshape(rows, cols)
    g = np.stack([[np.stack([psf.gaussian(s * f, k).numpy() for f in (1.1, 1.0, 0.9)]) for s in row] for row in sig])
    return torch.tensor(g)


def test_interpolation_hits_nodes_and_mixes_between():
    g = _grid()
    nodes = torch.tensor(psf.node_positions(3, 4).reshape(-1, 2))
    assert torch.allclose(psf.interpolate(g, nodes), g.reshape(-1, 3, 13, 13), atol=1e-12)
    mid = psf.interpolate(g, torch.tensor([[0.25, 0.0]]))[0]  # halfway between nodes (0,0) and (1,0)
    assert torch.allclose(mid, 0.5 * (g[0, 0] + g[1, 0]), atol=1e-12)
    sums = psf.interpolate(g, torch.rand(50, 2, dtype=torch.float64)).sum((-2, -1))
    assert torch.allclose(sums, torch.ones_like(sums))  # convex mixes stay normalised


def test_centroid_is_the_shift_and_centre_keeps_lateral_colour():
    k = torch.stack([psf.gaussian(1.2, 13, dy=0.7, dx=-1.1), psf.gaussian(1.2, 13, dy=0.2, dx=-0.6),
                     psf.gaussian(1.2, 13, dy=-0.3, dx=-0.1)])
    c = psf.centroid(k)
    assert torch.allclose(c, torch.tensor([[0.7, -1.1], [0.2, -0.6], [-0.3, -0.1]], dtype=c.dtype), atol=0.02)
    centred = psf.centre(k)
    pooled = psf.centroid(centred.sum(0))
    assert pooled.abs().max() < 0.02
    lc_before, lc_after = psf.lateral_colour(k[None, None]), psf.lateral_colour(centred[None, None])
    assert torch.allclose(lc_before, lc_after, atol=0.02)


def test_translate_moves_the_centroid_without_ringing_or_widening():
    """Kernels 0.5-1.2 px wide (learned kernels are smoothed by 0.8 px) moved by fractions of a
    pixel: the centroid moves by the shift, the kernels stay non-negative and normalised, no mass
    appears far from them and their width stays within a few hundredths of a px^2 from 0.8 px
    up; the Fourier phase shift, clipped, leaves a tenth of the mass or more far out and widens
    them. Whole pixels move exactly; the move is differentiable."""
    dy, dx = torch.tensor([0.3, -1.7, 0.0], dtype=torch.float64), torch.tensor([-0.45, 2.25, 0.5], dtype=torch.float64)
    y, x = np.mgrid[-6:7, -6:7]
    far = torch.as_tensor(np.hypot(y - dy.numpy()[:, None, None], x - dx.numpy()[:, None, None]) > 4)
    for width in (0.5, 0.8, 1.2):
        kernel = psf.gaussian(width, 13).double().expand(3, 13, 13)
        moved = psf.translate(kernel, dy, dx)
        assert torch.allclose(psf.centroid(moved), torch.stack([dy, dx], -1), atol=0.015)
        assert moved.min() >= 0 and torch.allclose(moved.sum((-2, -1)), torch.ones(3, dtype=torch.float64))
        assert (moved * far).sum((-2, -1)).max() < 0.01
        grown = psf.second_moment(moved) - psf.second_moment(kernel)
        assert grown.abs().max() < (0.15 if width < 0.8 else 0.07)
        fourier = psf.normalise(psf.shift(kernel, dy, dx))
        if width <= 0.8:
            assert (psf.second_moment(fourier) - psf.second_moment(kernel)).max() > 0.3
            assert (fourier * far).sum((-2, -1)).max() > (0.1 if width < 0.8 else 0.02)
    kernel = psf.gaussian(1.0, 13).double()
    assert torch.allclose(psf.translate(kernel, 1.0, -2.0), torch.roll(kernel, (1, -2), (0, 1)), atol=1e-6)
    d = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    psf.centroid(psf.translate(psf.gaussian(0.8, 13).double()[None], d, torch.zeros(1, dtype=torch.float64)))[0, 0].backward()
    assert d.grad.item() == pytest.approx(1.0, abs=0.05)


def test_gaussian_widths_and_fwhm():
    assert psf.fwhm(psf.gaussian(1.0, 21)).item() == pytest.approx(2.3548, rel=0.02)
    aniso = psf.gaussian(2.0, 21, sigma_x=1.0)
    assert aniso.sum(-2).max() > aniso.sum(-1).max()  # narrower along x: its x-profile peaks higher


def test_best_gaussian_and_report():
    truth = _grid()
    sigma, g = psf.best_gaussian(truth)
    assert 0.6 < sigma < 2.0
    rep_self = psf.grid_report(truth, truth)
    assert rep_self["ncc_mean"] == pytest.approx(1.0) and rep_self["l2"] < 1e-6
    assert rep_self["l2_gaussian"] > 0.1 and rep_self["lateral_colour_error_max"] < 1e-6
    rep_g = psf.grid_report(g, truth)
    assert rep_g["l2"] == pytest.approx(rep_g["l2_gaussian"], rel=0.05)
    assert rep_g["ncc_mean"] < 1.0


def test_ncc_is_lenient_so_l2_matters():
    """Why the learning tests use L2 against a Gaussian: a plain Gaussian has high NCC already."""
    k = psf.gaussian(1.0, 13, sigma_x=1.6, theta=0.5)
    _, g = psf.best_gaussian(k[None].expand(3, 13, 13))
    assert psf.ncc(g, k[None].expand(3, 13, 13)).item() > 0.9


def test_mirror_symmetry_keeps_a_centred_lens_and_pools_mirrored_places():
    """A centred lens (the simulator's, with its radial lateral colour, astigmatism and coma
    pointing outwards) is a fixed point of the mirror average, so the prior costs it nothing;
    a blur seen at one place only is shared with its three mirror places, mirrored."""
    from lenscal.simulate import lens_psf_grid

    lens = torch.as_tensor(lens_psf_grid("wide", 300, 450, 4, 5))
    assert torch.allclose(psf.mirror_average(lens), lens, atol=1e-6)
    one = psf.gaussian(1.0, 13).double().expand(4, 5, 3, 13, 13).clone()
    one[0, 0] = psf.gaussian(1.0, 13, 1.0, 2.0).double()  # top-left node's blur pushed down and right
    sym = psf.mirror_average(one)
    assert torch.allclose(sym.sum((-2, -1)), torch.ones(4, 5, 3, dtype=torch.float64))
    c = psf.centroid(sym)[..., 1, :]  # G
    assert torch.allclose(c[0, 0], torch.tensor([0.25, 0.5], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(c[3, 4], -c[0, 0], atol=1e-6)  # the opposite corner: mirrored both ways
    assert torch.allclose(c[0, 4], c[0, 0] * torch.tensor([1, -1.0], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(c[1, 1], torch.zeros(2, dtype=torch.float64), atol=1e-6)  # others untouched


def test_magnify_scales_a_kernel_about_its_centre_and_is_the_identity_at_one():
    k = psf.gaussian(1.0, 15).expand(2, 3, 15, 15)
    assert torch.allclose(psf.magnify(k, torch.zeros(2, 3)), k, atol=1e-12)
    out = psf.magnify(k, torch.tensor([[np.log(1.3)] * 3, [np.log(1 / 1.3)] * 3], dtype=torch.float64))
    assert torch.allclose(out.sum((-2, -1)), torch.ones(2, 3, dtype=out.dtype)) and out.min() >= 0
    ratio = psf.second_moment(out) / psf.second_moment(k)
    assert torch.allclose(ratio[0], torch.full((3,), 1.3**2, dtype=out.dtype), rtol=0.08)  # width x 1.3
    assert (ratio[1] < 0.75).all()  # narrower (a 0.77 px Gaussian is partly below the sampling)
    assert torch.allclose(psf.centroid(out), torch.zeros(2, 3, 2, dtype=out.dtype), atol=1e-9)  # about the centre
    scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
    psf.second_moment(psf.magnify(k[0, 0], scale)).backward()
    assert scale.grad > 0  # learnable: a larger scale widens


def test_covariance_reads_a_rotated_gaussian():
    g = psf.gaussian(torch.tensor(1.4), 31, dy=torch.tensor(0.5), sigma_x=torch.tensor(0.8), theta=torch.tensor(0.3))
    c, cov = psf.covariance(g)
    rot = torch.tensor([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]], dtype=torch.float64)
    want = rot @ torch.diag(torch.tensor([1.4**2, 0.8**2], dtype=torch.float64)) @ rot.T
    assert torch.allclose(c, torch.tensor([0.5, 0.0], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(cov, want, atol=1e-3)
    assert torch.allclose(cov[0, 0] + cov[1, 1], psf.second_moment(g), atol=1e-12)  # one reading of the spread

