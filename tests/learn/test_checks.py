"""A shoot that cannot work is refused with one clear sentence, before any learning."""

from __future__ import annotations

import numpy as np
import pytest

from lenscal.errors import LenscalError, ShootError
from lenscal.learn import checks, learn_grid
from lenscal.learn.widths import compare_sets

from .synth import shoot, true_grid


@pytest.fixture(scope="module")
def sets():
    return shoot(2, 2, 160, 200, true_grid(2, 2), 0.01, seed=3)


def test_sharp_set_is_recognised_as_sharper(sets):
    sharp, blurry = sets
    found = compare_sets(sharp, blurry)
    assert found.blurrier()[-1] and found.verdict() is None
    assert found.blurry[-1] > found.sharp[-1] + 0.5


def test_swapped_sets_are_refused_in_one_line(sets):
    sharp, blurry = sets
    with pytest.raises(ShootError) as e:
        learn_grid(blurry, sharp, overrides={"step1_steps": 1})
    assert "not blurrier than the sharp set anywhere" in str(e.value) and "\n" not in str(e.value)


def test_a_lens_sharp_in_the_middle_at_both_apertures_is_not_refused():
    """Wide open, an achromat can be as sharp in the middle as stopped down and much softer in the
    corners: compared like with like, zone by zone, the blurry set is blurrier somewhere."""
    from lenscal.optics.psf import gaussian

    rows = cols = 5
    grid = np.zeros((rows, cols, 3, 13, 13), np.float32)
    for r in range(rows):
        for c in range(cols):
            rho = np.hypot(r / (rows - 1) - 0.5, c / (cols - 1) - 0.5) / np.hypot(0.5, 0.5)
            grid[r, c] = gaussian(0.3 + 1.8 * rho**2, 13).numpy()  # centre: a delta; corners: 2.1 px
    sharp, blurry = shoot(3, 3, 480, 720, grid, 0.005, seed=4)
    found = compare_sets(sharp, blurry)
    assert not found.blurrier()[0], "the centre barely changes"
    assert found.blurrier()[3], "the corners do"
    assert found.verdict() is None


def test_bad_shapes_and_counts_are_refused(sets):
    sharp, blurry = sets
    with pytest.raises(ShootError, match="at least 2"):
        learn_grid(sharp[:1], blurry)
    with pytest.raises(ShootError, match="same size"):
        learn_grid([sharp[0], sharp[1][:-2]], blurry)
    with pytest.raises(LenscalError, match="preset"):
        learn_grid(sharp, blurry, preset="nope")
    with pytest.raises(LenscalError, match="unknown learn setting"):
        learn_grid(sharp, blurry, overrides={"step_one": 3})
    # --set mirror=False reaches here as the string "False", which would read as true
    with pytest.raises(LenscalError, match="mirror must be true or false"):
        learn_grid(sharp, blurry, overrides={"mirror": "False"})
    with pytest.raises(LenscalError, match="step1_steps must be a number"):
        learn_grid(sharp, blurry, overrides={"step1_steps": "lots"})
    with pytest.raises(LenscalError, match="magnify must be one of auto, off, node"):
        learn_grid(sharp, blurry, overrides={"magnify": "radial"})
    # how a learn runs is not a setting (and not written into the profile)
    with pytest.raises(LenscalError, match="threads: not a learn setting"):
        learn_grid(sharp, blurry, overrides={"threads": 1})
    # a choice only a preset makes
    with pytest.raises(LenscalError, match="unknown learn setting.*t_min"):
        learn_grid(sharp, blurry, overrides={"t_min": 0.2})


def test_kernel_scales_are_learned_only_where_aberrations_dominate():
    """magnify=auto: a scale per node wide open, none where diffraction is flat across the frame
    or where the f-number is unknown; a named choice is kept as given."""
    from lenscal.learn.presets import get_settings, resolve_auto

    auto = get_settings("fast")
    assert auto.magnify == "auto"
    assert resolve_auto(auto, False).magnify == "node"
    assert resolve_auto(auto, True).magnify == "off" and resolve_auto(auto, None).magnify == "off"
    assert resolve_auto(get_settings("fast", {"magnify": "node"}), True).magnify == "node"
    assert resolve_auto(get_settings("paper"), False).magnify == "off"  # the published method has none
    # the edge-width check follows the same rule
    assert resolve_auto(auto, False).edge_widths == "pattern"
    assert resolve_auto(auto, True).edge_widths == "off" and resolve_auto(auto, None).edge_widths == "off"
    assert resolve_auto(get_settings("fast", {"edge_widths": "pattern"}), True).edge_widths == "pattern"
    with pytest.raises(LenscalError, match="edge_widths must be one of auto, pattern, off"):
        get_settings("fast", {"edge_widths": "absolute"})  # measured further from the truth: removed
    assert resolve_auto(get_settings("paper"), False).edge_widths == "off"
    # the lateral colour is measured and kept, whatever the aperture; the published method learns it
    assert resolve_auto(auto, False).lateral == "measured" and resolve_auto(auto, True).lateral == "measured"
    assert resolve_auto(get_settings("paper"), False).lateral == "unmeasured"
    # sharp crops from their own place only where the photos were devignetted
    assert auto.sharp_place == "auto"
    assert resolve_auto(auto, False, True).sharp_place == "own"
    assert resolve_auto(auto, False, False).sharp_place == "random" and resolve_auto(auto, True).sharp_place == "random"
    assert resolve_auto(get_settings("fast", {"sharp_place": "own"}), True, False).sharp_place == "own"
    # Gaussian kernels only where known to be diffraction-limited (wide open, cores with halos)
    assert resolve_auto(auto, True).kernel_shape == "gaussian"
    assert resolve_auto(auto, False).kernel_shape == "learned" and resolve_auto(auto, None).kernel_shape == "learned"
    assert resolve_auto(get_settings("paper"), True).kernel_shape == "learned"
    assert resolve_auto(get_settings("paper"), False, True).sharp_place == "random"


def test_gain_between_sets_is_estimated_from_means(sets):
    sharp, blurry = sets
    ratio = checks.channel_means(blurry) / checks.channel_means(sharp)
    assert ratio.shape == (3,) and np.all(ratio > 0)


def test_noise_does_not_make_a_blurry_set_look_sharper():
    """f/16 photos often need a higher ISO: a blurred but noisy set must still score below a clean
    sharp one (edges are read where the three scales agree: noise does not)."""
    import cv2
    from scipy.ndimage import gaussian_filter

    from tests.conftest import EXAMPLES

    rng = np.random.default_rng(0)
    scenes = [((cv2.imread(str(p))[:, :, ::-1] / 255.0) ** 2.2).astype(np.float32) for p in sorted(EXAMPLES.glob("*.png"))[:4]]
    sharp = scenes[:2]
    blurry = [(gaussian_filter(s, (1.3, 1.3, 0)) + rng.normal(0, 0.02, s.shape)).astype(np.float32) for s in scenes[2:]]
    assert compare_sets(sharp, blurry).verdict() is None
    assert compare_sets(blurry, sharp).verdict() is not None


def test_every_setting_has_a_meaning_a_range_or_choices_and_is_documented():
    """At most 20 settings a user can --set, each with a one-line meaning, listed in
    docs/method.md; every numeric one range-checked; run options are not among them."""
    import dataclasses
    from pathlib import Path

    from lenscal.learn.presets import CHOICES, RANGES, SETTINGS, LearnSettings, RunOptions

    assert len(SETTINGS) <= 20 and all(m and "\n" not in m for m in SETTINGS.values())
    fields = {f.name: f for f in dataclasses.fields(LearnSettings)}
    assert set(SETTINGS) <= set(fields) and set(RANGES) <= set(SETTINGS) and set(CHOICES) <= set(SETTINGS)
    numeric = {k for k in SETTINGS if k not in CHOICES and not isinstance(getattr(LearnSettings(), k), bool)}
    assert numeric == set(RANGES)
    assert not {f.name for f in dataclasses.fields(RunOptions)} & set(fields)
    method = (Path(__file__).parents[2] / "docs" / "method.md").read_text()
    assert all(f"| `{k}` |" in method for k in SETTINGS)


def test_sets_at_two_apertures_whose_edges_look_alike_are_not_refused():
    """The edges cannot see every blur (a wide-open lens whose centre hardly changes, a blur wider
    than the scales they are read at): given two f-numbers, sets that look alike go on to the learn
    and its self-check; at one aperture, or with no f-numbers, they are refused; folders swapped
    (the blurry set clearly the sharper over the whole frame) are refused whatever the apertures."""
    from lenscal.learn.widths import SWAPPED, Sharpness

    alike = Sharpness(np.full(5, 0.40), np.full(5, 0.42))
    assert alike.verdict() is not None
    assert alike.refusal(5.6, 2.8) is None and alike.refusal(5.6, 16) is None
    assert alike.refusal(5.6, 5.6) == alike.verdict() and alike.refusal(None, 16) == alike.verdict()
    swapped = Sharpness(np.full(5, 1.2), np.full(5, 1.2 - SWAPPED - 0.1))
    assert swapped.refusal(5.6, 16) == swapped.verdict() is not None
    blurrier = Sharpness(np.full(5, 0.4), np.array([0.4, 0.4, 0.4, 0.9, 0.5]))
    assert blurrier.verdict() is None and blurrier.refusal(5.6, 5.6) is None
