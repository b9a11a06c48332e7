"""Kernels summarised by their centroid and covariance (the learned grid's last step)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenscal.optics import moments, psf
from lenscal.optics.diffraction import diffraction_kernels, relative_scales


def _field(rows: int = 3, cols: int = 4, k: int = 13) -> torch.Tensor:
    """Anisotropic, rotated, shifted Gaussians that change across the frame, R and B shifted
    against G (lateral colour)."""
    r, c = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols), indexing="ij")
    s = torch.as_tensor(0.9 + 0.8 * r + 0.4 * c)
    out = []
    for ch, dx in enumerate((0.4, 0.0, -0.4)):
        out.append(psf.gaussian(s, k, dy=torch.as_tensor(0.3 * r), dx=torch.as_tensor(dx * c),
                                sigma_x=s * 0.7, theta=torch.as_tensor(0.5 * c)))
    return torch.stack(out, dim=2)


def test_a_field_of_gaussians_is_its_own_summary_centroids_and_all():
    field = _field()
    out = moments.gaussian_summary(field)
    assert out.shape == field.shape and (out >= 0).all()
    assert torch.allclose(out.sum((-2, -1)), torch.ones(out.shape[:-2], dtype=out.dtype))
    assert psf.relative_l2(out, field) < 0.02
    assert torch.allclose(psf.centroid(out), psf.centroid(field), atol=1e-3)  # the lateral colour kept


def test_a_sharp_core_on_a_broad_pedestal_comes_closer_to_the_blur_it_stands_for():
    """The learner's failure: the right spread, held by a spike and a pedestal. Its summary is the
    Gaussian of the same spread, closer to a Gaussian truth than the learned kernel."""
    truth = psf.gaussian(torch.tensor(1.5), 13).expand(2, 2, 3, 13, 13)
    spike, pedestal = psf.gaussian(torch.tensor(0.6), 13), psf.gaussian(torch.tensor(2.6), 13)
    # the mix with the truth's variance: w 0.36 + (1 - w) 6.76 = 2.25
    w = (6.76 - 2.25) / (6.76 - 0.36)
    learned = psf.normalise((w * spike + (1 - w) * pedestal).expand(2, 2, 3, 13, 13))
    before = psf.relative_l2(learned, truth)
    after = psf.relative_l2(moments.gaussian_summary(learned), truth)
    assert before > 0.3 and after < 0.25 * before


def test_the_diffraction_is_kept_and_only_the_lens_part_summarised():
    airy = torch.from_numpy(diffraction_kernels(relative_scales(16, 3.3, 5.6), 13)).double()
    lens = _field()
    blurred = torch.stack([torch.conv2d(lens[:, :, ch].reshape(-1, 1, 13, 13), airy[ch][None, None], padding=6)
                           .reshape(lens[:, :, ch].shape) for ch in range(3)], dim=2)
    blurred = psf.normalise(blurred)
    kept = moments.gaussian_summary(blurred, airy)
    kept_l2, lost_l2 = psf.relative_l2(kept, blurred), psf.relative_l2(moments.gaussian_summary(blurred), blurred)
    # the Airy rings survive (the window's edge cuts the pattern, so covariances do not add exactly);
    # summarised without the pattern, the rings are gone and the core is wrong
    assert kept_l2 < 0.1 and lost_l2 > 2 * kept_l2
    assert torch.allclose(psf.centroid(kept), psf.centroid(blurred), atol=0.02)


def test_a_point_stays_a_point():
    delta = torch.zeros(1, 1, 3, 13, 13, dtype=torch.float64)
    delta[..., 6, 6] = 1
    out = moments.gaussian_summary(delta)
    assert out[..., 6, 6].min() > 0.5 and torch.isfinite(out).all()


@settings(derandomize=True, deadline=None, database=None, max_examples=40)
@given(seed=st.integers(0, 2**31 - 1), blobs=st.integers(1, 4), with_airy=st.booleans())
def test_any_lumpy_kernel_gives_a_normalised_kernel_at_its_centroid(seed, blobs, with_airy):
    """Whatever shape step 2 leaves (lumps of any width within 1.5 px of the centre, a floor of
    noise), the summary is finite, non-negative, sums to 1 and keeps the centroid (the lateral
    colour); a kernel as wide as the window (spikes anywhere) still gives a normalised kernel."""
    rng = np.random.default_rng(seed)
    airy = torch.from_numpy(diffraction_kernels(relative_scales(16, 3.3), 13)).double() if with_airy else None
    lumpy = torch.full((1, 1, 3, 13, 13), rng.uniform(0, 1e-3), dtype=torch.float64)
    for _ in range(blobs):
        lumpy += rng.uniform(0.1, 1) * psf.gaussian(torch.tensor(rng.uniform(0.3, 2.0)), 13,
                                                    dy=torch.tensor(rng.uniform(-1.5, 1.5, 3)),
                                                    dx=torch.tensor(rng.uniform(-1.5, 1.5, 3)))
    spikes = np.full((1, 1, 3, 13, 13), 1e-4)
    for _ in range(blobs + 1):
        spikes[0, 0, :, rng.integers(0, 13), rng.integers(0, 13)] += rng.uniform(0.1, 1, size=3)
    for grid in (psf.normalise(lumpy), psf.normalise(torch.from_numpy(spikes))):
        out = moments.gaussian_summary(grid, airy)
        assert torch.isfinite(out).all() and (out >= 0).all()
        assert torch.allclose(out.sum((-2, -1)), torch.ones(1, 1, 3, dtype=out.dtype))
    assert (psf.centroid(moments.gaussian_summary(psf.normalise(lumpy), airy)) - psf.centroid(lumpy)).abs().max() < 0.05
