"""The kernel model and its regularisers behave as the method needs."""

from __future__ import annotations

import pytest
import torch

from lenscal.learn.match import MAGNIFY_LR, GridModule, colour_offset_penalty, com_penalty, node_change, spread_penalty
from lenscal.optics.psf import gaussian


def test_kernels_are_normalised_and_refine_keeps_the_field():
    torch.manual_seed(0)
    g = GridModule(2, 2, 9)
    with torch.no_grad():
        g.logits.add_(torch.randn_like(g.logits))
    k = g.kernels()
    assert torch.allclose(k.sum((-2, -1)), torch.ones(2, 2, 3)) and k.min() >= 0
    fine = g.refined(3, 3).kernels()
    assert torch.allclose(fine[::2, ::2], k, atol=1e-5)  # shared nodes unchanged
    assert torch.allclose(fine[1, 1], k.mean((0, 1)), atol=1e-5)  # the centre is the mix


def test_centre_of_mass_is_pooled_so_lateral_colour_is_free():
    centred = gaussian(1.2, 13).float().expand(1, 3, 13, 13)
    lateral = torch.stack([gaussian(1.2, 13, 0, 1.0), gaussian(1.2, 13), gaussian(1.2, 13, 0, -1.0)]).float()[None]
    shifted = gaussian(1.2, 13, 1.0, 0.0).float().expand(1, 3, 13, 13)
    assert com_penalty(centred) < 1e-8 and com_penalty(lateral[None][0]) < 1e-6
    assert abs(com_penalty(shifted) - 1.0) < 1e-3
    assert spread_penalty(gaussian(2.0, 13).float().expand(1, 3, 13, 13)) > spread_penalty(centred)


def test_colour_prior_allows_radial_lateral_colour_but_not_a_common_shift():
    def node(dx):
        return torch.stack([gaussian(1.2, 13, 0, dx), gaussian(1.2, 13), gaussian(1.2, 13, 0, -dx)]).float()

    radial = torch.stack([torch.stack([node(-0.8), node(0.8)])])  # R out on both sides of the frame
    common = torch.stack([torch.stack([node(0.8), node(0.8)])])  # R right everywhere
    assert colour_offset_penalty(radial) < 1e-6
    assert colour_offset_penalty(common) > 0.5


def test_smoothed_kernels_stay_normalised_and_lose_single_pixel_spikes():
    """A delta logit (the spike Adam grew) comes out as a ~0.8 px Gaussian, not a spike; a
    refined grid keeps the smoothing without applying it twice."""
    g = GridModule(2, 2, 13, smooth=0.8)
    with torch.no_grad():
        g.logits.fill_(-30.0)
        g.logits[..., 6, 6] = 0.0
    k = g.kernels()
    assert torch.allclose(k.sum((-2, -1)), torch.ones(2, 2, 3)) and k.min() >= 0
    assert torch.allclose(k, gaussian(0.8, 13).float().expand_as(k), atol=2e-3)
    assert k.max() < 0.3  # the raw kernel's peak is 1
    assert torch.allclose(g.refined(3, 3).kernels()[0, 0], k[0, 0], atol=1e-5)


def test_radial_lateral_colour_shifts_r_and_b_outwards_and_keeps_kernels_valid():
    """The four lateral-colour numbers move R and B radially by (a + b r^2) q px, G stays put,
    and the kernels stay non-negative and normalised (Fourier shift ringing is clipped)."""
    from lenscal.optics.psf import centroid

    grid = GridModule(5, 7, 13, width=1.0, smooth=0.8, frame=(400, 600))
    with torch.no_grad():
        grid.lateral.copy_(torch.tensor([[0.3, 0.5], [-0.3, -0.5]]))  # R out, B in: 0.8 px at corners
    k = grid.kernels()
    assert (k >= 0).all() and torch.allclose(k.sum((-2, -1)), torch.ones(5, 7, 3), atol=1e-5)
    c = centroid(k.double())  # (5, 7, 3, 2)
    shifts = grid.lateral_shifts().double()  # (5, 7, 2, 2)
    torch.testing.assert_close(c[..., 1, :], torch.zeros(5, 7, 2, dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(c[..., 0, :] - c[..., 1, :], shifts[:, :, 0], atol=0.03, rtol=0)
    torch.testing.assert_close(c[..., 2, :] - c[..., 1, :], shifts[:, :, 1], atol=0.03, rtol=0)
    corner = (c[0, 0, 0] - c[0, 0, 1]).norm()
    assert abs(corner - 0.8) < 0.03 and (c[0, 0, 0] < 0).all()  # top-left corner: R up and left
    assert c[2, 3, 0].norm() < 1e-3  # the centre node has none
    # refinement keeps the lateral colour (the coarse grid learns it first)
    fine = grid.refined(9, 9)
    torch.testing.assert_close(fine.lateral, grid.lateral)


def test_node_change_is_linear_in_the_move_and_reports_the_worst_node():
    """The stopping rule's measure: a 4% change must read as 0.04, not as 1 - NCC (~1e-3)."""
    a = gaussian(1.2, 13).float().expand(2, 2, 3, 13, 13).clone()
    assert node_change(a, a) == 0.0
    b = a.clone()
    b[1, 0] = a[1, 0] * 0.96 + gaussian(1.8, 13).float() * 0.04  # one node moves a little
    change = node_change(b, a)
    expected = float((b[1, 0] - a[1, 0]).norm() / a[1, 0].norm())
    assert abs(change - expected) < 1e-6 and change > 0.005
    c = b.clone()
    c[1, 0] = a[1, 0] * 0.92 + gaussian(1.8, 13).float() * 0.08  # twice the move reads twice as much
    assert abs(node_change(c, a) / change - 2) < 1e-3


def tiny_matcher(**changes):
    """A step-2 matcher on a 2x2 grid with a tiny net, and one fixed batch of 16 px patches
    (``changes``: to the fast preset's settings, including those only a preset sets)."""
    import dataclasses

    from lenscal.learn.match import Matcher
    from lenscal.learn.presets import get_settings
    from lenscal.learn.unet import VelocityUNet

    settings = dataclasses.replace(get_settings("fast"), **{"channels": (8, 16), "coarse": None, **changes})
    matcher = Matcher(VelocityUNet((8, 16), 16), GridModule(2, 2, 13), settings, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16 + 12, 16 + 12, generator=gen)
    batch = (x, torch.zeros(4, 2, 16, 16), torch.rand(4, 2, generator=gen))
    return matcher, settings, batch, gen


def test_estimate_is_a_snapshot_not_a_view_of_the_running_average():
    """The stopping rule compares snapshots; one aliasing the in-place average always read 0 change."""
    matcher, _, (x, pos, centres), gen = tiny_matcher(kernel_average=0.9)
    matcher.kernel_step(x, pos, centres, gen)
    before = matcher.estimate()
    for _ in range(3):
        matcher.kernel_step(x, pos, centres, gen)
    after = matcher.estimate()
    assert node_change(after, before) > 1e-4  # the kernels moved, and the first snapshot did not follow


def test_a_refined_grid_continues_the_lr_schedule_and_restarts_the_average():
    """The refined grid starts from the coarse estimate: a restarted (maximal) lr threw its nodes
    about, so refinement keeps the decayed lr; the kernel average starts afresh (new shape)."""
    matcher, settings, (x, pos, centres), gen = tiny_matcher(kernel_lr_halving=2)
    for _ in range(4):
        matcher.kernel_step(x, pos, centres, gen)
    decayed = matcher.kernel_lr()
    assert decayed == settings.kernel_lr / 4
    matcher.set_grid(matcher.grid.refined(3, 3), keep_schedule=True)
    assert matcher.kernel_lr() == decayed and matcher.average is None
    matcher.set_grid(matcher.grid.refined(4, 4))
    assert matcher.kernel_lr() == settings.kernel_lr


def test_the_gains_are_one_learned_exposure_ratio_for_every_channel():
    """Unpaired scenes' colours would pass for a tint, so only the exposure ratio is learned."""
    matcher, _, (x, pos, centres), gen = tiny_matcher()
    for _ in range(3):
        matcher.aux_step(x, pos, centres, gen)  # aux != real, so the matching gradient is not 0
        matcher.kernel_step(x, pos, centres, gen)
    gains = matcher.grid.gains().detach()
    assert torch.allclose(gains, gains[0].expand(3))  # one ratio for all channels
    assert abs(float(matcher.grid.log_exposure)) > 1e-4  # ... which did learn


def test_a_matcher_state_restores_a_grid_with_its_own_smoothing():
    """A grid smoothed otherwise than the settings say (as with the diffraction modelled) must
    come back from a checkpoint with its own smoothing (the settings' would not even fit the
    saved smoothing kernel)."""
    matcher, settings, (x, pos, centres), gen = tiny_matcher(kernel_smooth=0.8)
    matcher.set_grid(GridModule(2, 2, 13, smooth=0.5).refined(3, 3), keep_schedule=True)
    matcher.kernel_step(x, pos, centres, gen)
    state = matcher.state_dict()
    other, _, _, _ = tiny_matcher(kernel_smooth=0.8)
    other.load_state_dict(state)
    assert other.grid.smooth == 0.5 and tuple(other.grid.logits.shape[:2]) == (3, 3)
    assert torch.equal(other.grid.kernels(), matcher.grid.kernels())


def test_a_grid_with_diffraction_learns_the_lens_blur_on_top_of_it_and_keeps_it():
    """The Airy pattern is applied to every kernel (fixed, not learned), survives a refinement
    and a checkpoint, and the kernels stay normalised."""
    from lenscal.learn.match import Matcher
    from lenscal.learn.presets import get_settings
    from lenscal.learn.unet import VelocityUNet
    from lenscal.optics.diffraction import diffraction_kernels, relative_scales
    from lenscal.optics.psf import second_moment

    airy = torch.from_numpy(diffraction_kernels(relative_scales(16, 3.3), 13))
    g = GridModule(2, 2, 13, width=0.6, smooth=0.5, diffraction=airy)
    k = g.kernels()
    assert torch.allclose(k.sum((-2, -1)), torch.ones(2, 2, 3), atol=1e-5) and k.min() >= 0
    plain = GridModule(2, 2, 13, width=0.6, smooth=0.5).kernels()
    assert (second_moment(k) > second_moment(plain) + 2.0).all()  # the Airy disc's spread is added
    assert k[0, 0, 0, 6, 6] < k[0, 0, 2, 6, 6]  # ... wider in red than in blue
    fine = g.refined(3, 3)
    assert torch.allclose(fine.kernels()[0, 0], k[0, 0], atol=1e-5)
    settings = get_settings("fast", {"channels": (8, 16), "coarse": None})
    matcher = Matcher(VelocityUNet((8, 16), 16), fine, settings, torch.device("cpu"))
    other = Matcher(VelocityUNet((8, 16), 16), GridModule(2, 2, 13, diffraction=airy), settings, torch.device("cpu"))
    other.load_state_dict(matcher.state_dict())
    assert torch.equal(other.grid.kernels(), fine.kernels())


def test_sigma_is_learned():
    """The noise sigma follows the distribution-matching gradient, as in the paper."""
    matcher, _, (x, pos, centres), gen = tiny_matcher()
    start = float(matcher.grid.sigma)
    for _ in range(3):
        matcher.aux_step(x, pos, centres, gen)  # the aux model moves, so v_aux - v_real is not 0
        matcher.kernel_step(x, pos, centres, gen)
    assert abs(float(matcher.grid.sigma) - start) > 1e-5


def test_a_magnified_grid_learns_one_scale_per_node_and_keeps_it_through_a_checkpoint():
    """``magnify`` "node": the fine grid's kernels get a learned scale, one per node. It starts
    at 1 (the refined grid blurs as the coarse one did), is learned in its own group, and comes
    back from a checkpoint."""
    from lenscal.optics.psf import second_moment

    coarse = GridModule(2, 2, 13, smooth=0.8)
    fine = coarse.refined(3, 3, magnify="node")
    assert torch.allclose(fine.kernels(), coarse.refined(3, 3).kernels(), atol=1e-6)
    with torch.no_grad():
        fine.log_scale[0, 0] = 0.3
    widened = second_moment(fine.kernels())[..., 1] / second_moment(coarse.refined(3, 3).kernels())[..., 1]
    assert widened[0, 0] > 1.4 and torch.allclose(widened.flatten()[1:], torch.ones(8), atol=1e-5)

    matcher, settings, (x, pos, centres), gen = tiny_matcher(kernel_lr_halving=2)
    matcher.set_grid(GridModule(2, 2, 13, smooth=0.8).refined(3, 3, magnify="node"), keep_schedule=True)
    for _ in range(3):
        matcher.aux_step(x, pos, centres, gen)
        matcher.kernel_step(x, pos, centres, gen)
    assert matcher.grid.log_scale.abs().max() > 1e-3  # learned
    kernel_lr = matcher._group("kernels")["lr"]
    assert kernel_lr < settings.kernel_lr / 1.9  # decayed ...
    assert matcher._group("scale")["lr"] == pytest.approx(MAGNIFY_LR * kernel_lr / settings.kernel_lr)  # ... alike
    other, _, _, _ = tiny_matcher()
    other.load_state_dict(matcher.state_dict())
    assert other.grid.magnify == "node" and torch.equal(other.grid.kernels(), matcher.grid.kernels())
