"""Named learning settings, one dataclass per preset, each with what it costs.

Why presets: the published (GPU) scale is ~2.6e17 FLOP, months on a laptop CPU; the method works
at a far smaller scale because the flow model only has to capture local blur statistics as a
function of position (METHOD.md, "Costs"). ``fast`` is sized for a 2-core CPU, ``paper`` mirrors
the authors' GPU settings and is only sensible on a GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lenscal.errors import LenscalError

MAGNIFY = ("off", "node", "radial")  # how the fine grid's kernel scales are learned (match.PSFGrid.log_scales)
# the settings that take one of a few names
CHOICES = {"magnify": ("auto", *MAGNIFY), "edge_widths": ("auto", "relative", "absolute", "level", "pattern", "off"),
           "lateral_from": ("auto", "measured", "learned")}

# the valid range (inclusive) of every numeric setting, checked on --set (get_settings); for a
# tuple (channels, coarse), the range of each of its numbers
RANGES: dict[str, tuple[float, float]] = {
    "patch": (8, 256), "centre_fraction": (0.05, 1), "centre_max": (64, 100_000), "level": (0.01, 1),
    "channels": (1, 1024), "fourier": (1, 256), "step1_steps": (1, 10**7), "step1_batch": (1, 65536),
    "step1_lr": (0, 1), "ema_std": (0, 1), "replace_position": (0, 1), "step2_steps": (1, 10**7),
    "step2_min_steps": (0, 10**7), "step2_batch": (1, 65536), "aux_lr": (0, 1), "kernel_lr": (0, 1),
    "kernel_lr_halving": (1, 10**9), "kernel_lr_floor": (0, 1), "kernel_smooth": (0, 10), "fine_smooth": (0, 10),
    "kernel_average": (0, 0.99999), "sigma_init": (0, 1), "sigma_lr": (0, 1), "gain_lr": (0, 1), "tint_lr": (0, 1),
    "init_width": (0.1, 20), "diffraction_smooth": (0, 10), "diffraction_init_width": (0.1, 20),
    "magnify_lr": (0, 1), "coarse": (1, 32), "coarse_fraction": (0, 1), "com_weight": (0, 1e6),
    "spread_weight": (0, 1e6), "smooth_weight": (0, 1e6), "colour_weight": (0, 1e6), "lateral_lr": (0, 1),
    "t_min": (0, 0.99), "check_every": (1, 10**6), "stop_change": (0, 10), "stop_patience": (1, 10**6),
    "checkpoint_seconds": (0, 1e12), "progress_every": (1, 10**6), "threads": (0, 1024),
}


@dataclass(frozen=True)
class LearnSettings:
    """Every knob of steps 1 and 2 (defaults are the ``fast`` preset)."""

    # data
    patch: int = 32  # flow patch size (px); clean crops are patch + kernel_size - 1
    centre_fraction: float = 0.5  # side of the sharp centre crops, as a fraction of each image side
    centre_max: int = 3072  # ... but at most this many px (memory: 6 crops of 24 MP photos take 0.4 GB)
    level: float = 0.3  # the blurry set's mean is scaled to this before mapping [0,1] -> [-1,1]
    # the velocity net
    channels: tuple[int, ...] = (8, 16, 16)
    fourier: int = 16
    # step 1: conditional flow matching of blurry patches
    step1_steps: int = 2500
    step1_batch: int = 32
    step1_lr: float = 2e-3
    ema_std: float = 0.05  # power-function EMA, relative std (EDM2)
    replace_position: float = 0.2
    # step 2's aux model sees the simulated patches with the same location replacement (as the real
    # model sees the real ones). Principled, but measured a little worse at 12 MP (L2 0.85x / 0.73x ->
    # 0.89x / 0.75x, lateral colour 0.09 / 0.18 -> 0.15 / 0.23 px), so off, as in the reference
    aux_replace: bool = False
    # step 2: distribution matching of the PSF grid
    step2_steps: int = 3000  # upper bound on cycles (real, aux and kernel step)
    step2_min_steps: int = 1500
    step2_batch: int = 32
    aux_lr: float = 3e-4
    train_real: bool = True  # keep training the real model in step 2 (see match.Matcher.real_step)
    kernel_lr: float = 1e-2
    kernel_lr_halving: int = 600  # cycles per halving of the kernel lr
    kernel_lr_floor: float = 1e-3
    kernel_smooth: float = 0.8  # px, fixed Gaussian every kernel is convolved with (match.PSFGrid.kernels)
    # px, the same on the refined (fine) grid; None = kernel_smooth. 0.5 lets a sharp core with a
    # halo through (peak 0.42 wide open, beyond 0.8 px smoothing's ~0.25) and measured L2 0.73x ->
    # 0.69x at f/1.7 but 0.85x -> 1.11x at f/16 (12 MP), so it stays a --set option
    fine_smooth: float | None = None
    # EMA of the kernels reported and checked for stopping (0 = off). Averaging over ~500 cycles
    # (it also keeps some of the refined coarse grid, a smoothness prior) measured better than ~50:
    # demo seeds 0 / 1, PSNR gain +2.34 / +2.25 -> +2.45 / +2.36 dB, L2 0.286 / 0.291 -> 0.260 / 0.273
    kernel_average: float = 0.998
    sigma_init: float = 0.01
    sigma_lr: float = 2e-4
    # take the noise sigma measured in the blurry photos (noise.estimate_noise: a robust high-pass
    # median) and keep it fixed, instead of learning it from sigma_init. On the 12 MP bench (white
    # noise) it is exact (0.0050 against a learned 0.0063-0.0067) and L2 moves by 0.01 (0.71x ->
    # 0.70x wide open). Off by default: on demosaiced RAW files the noise is correlated, a white
    # sigma fitted at the finest scale is too low for the coarser ones, and the demo measured a
    # little worse with it (L2 0.179 against 0.167, +2.71 against +2.75 dB)
    sigma_measure: bool = False
    gain_lr: float = 1e-3  # the exposure ratio of the two sets (match.PSFGrid.gains)
    tint_lr: float = 0.0  # their colour tint: off, unpaired scenes' colours masquerade as one (ibid.)
    # report the grid mirror-averaged (optics.psf.mirror_average): a centred lens's blur is
    # mirror-symmetric, and what six photos hold at each place (detail in the middle, sky in a
    # corner) is not, so mirrored places pool what they learned. 12 MP, 6 + 6 different scenes:
    # L2 0.85x / 0.73x -> 0.75x / 0.71x, NCC 0.983 / 0.965 -> 0.986 / 0.968, lateral colour 0.09 /
    # 0.18 -> 0.07 / 0.16 px. Tying the nodes during step 2 instead measured worse (1.00x / 0.91x).
    # Turn it off (--set mirror=false) for a decentred lens.
    mirror: bool = True
    init_width: float = 1.5  # px, the centred Gaussian every kernel starts as
    # with the diffraction modelled (learn_grid's ``diffraction``, optics.diffraction) the logits
    # learn only the lens's own blur, which is narrower: less smoothing and a narrower start.
    # 12 MP f/16 bench, L2 against the best Gaussian's: smoothing 0.8 px 1.04x (too wide), 0.5 px
    # 0.46x, 0.3 px 0.29x; with the Airy scale 6% small (as f/15), 0.5 px: 0.34x
    diffraction_smooth: float = 0.3
    diffraction_init_width: float = 0.6
    # a learned scale of every kernel of the fine grid (match.PSFGrid.log_scales): "node" (one per
    # node), "radial" (an even polynomial of the distance from the frame centre) or "off", at
    # magnify_lr decaying with the kernels'. "auto" (resolve_magnify): "node" unless the blurry set
    # is diffraction-limited. 12 MP bench, cached step 1, L2 / best Gaussian's and held-out PSNR gain:
    # f/1.7 off 0.71x / 0.74x (step-2 seeds 0 / 1), +1.75 / +1.79 dB; node 0.51x / 0.60x, +2.06 /
    # +2.03 dB (true PSFs +2.24). f/16 with the diffraction modelled: node 0.28x against 0.29x,
    # +0.01 dB; without it (blur flat across the frame) node 1.24x against 0.75x, -0.24 dB: there
    # the scale learns the photos' composition (detail in the middle, sky in the corners), hence
    # off. Radial lr 0.1: f/1.7 0.46x / 0.58x, but the corners' G second moment 2-3x the truth.
    magnify: str = "auto"
    magnify_lr: float = 3e-2
    # after step 2, each node's kernel stretched until sharp crops blurred by it show the blurry
    # photos' own pattern of edge widths across the frame (learn.widths); the grid's mean width
    # stays step 2's. "auto": on where magnify's "auto" would learn a scale per node (aberrations),
    # off where the blurry set is diffraction-limited. 12 MP f/1.7 bench, cached step 1, step-2
    # seeds 0 / 1 / 2: L2 0.51x / 0.60x / 0.61x -> 0.42x / 0.43x / 0.44x
    edge_widths: str = "auto"
    coarse: tuple[int, int] | None = (3, 3)  # learn this grid first, then refine to the full grid
    coarse_fraction: float = 0.35  # of step2_steps spent on the coarse grid
    # restart the kernel lr schedule on the refined grid? It starts from a good estimate, and at the
    # restarted lr (1e-2) its nodes were thrown about: demo seeds 0 / 1, continuing the decay gave
    # PSNR +2.45 / +2.36 -> +2.45 / +2.41 dB, correction bench +2.26 / +2.17 -> +2.27 / +2.21 dB
    fine_lr_restart: bool = False
    com_weight: float = 0.01
    spread_weight: float = 0.1
    smooth_weight: float = 0.0
    colour_weight: float = 1.0  # pins the frame-average lateral colour to 0 (match.colour_offset_penalty)
    lateral_lr: float = 3e-3  # radial lateral colour of R and B (match.PSFGrid.lateral_shifts); 0 = fixed
    # start it from R and B registered to G in the blurry photos (learn.lateral), then learn on:
    # 12 MP lateral colour error 0.19 / 0.28 -> 0.09 / 0.18 px, NCC 0.977 / 0.958 -> 0.983 / 0.965
    lateral_measure: bool = True
    # the lateral colour reported: "learned" (step 2's refinement of the measurement) or "measured"
    # (the measurement alone, put back after step 2: learn.lateral.set_lateral). "auto": measured
    # where aberrations dominate (12 MP f/1.7, three step-2 seeds: 0.16 / 0.21 / 0.26 -> 0.14 px for
    # each), learned where the blurry set is diffraction-limited (f/16: 0.09 measured, 0.05 learned)
    lateral_from: str = "auto"
    t_min: float = 0.5  # step-2 time sampled in U(t_min, 1): away from pure noise, where blur shows
    check_every: int = 100  # cycles between grid snapshots for the stopping rule
    stop_change: float = 0.1  # stop when the largest relative change of a node between snapshots stays below this ...
    stop_patience: int = 3  # ... for this many snapshots in a row
    checkpoint_seconds: float = 60.0
    progress_every: int = 10
    threads: int = 0  # torch CPU threads; 0 = every core (1 is faster on a core shared with others)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Fast(LearnSettings):
    """CPU default, sized for ~15 min on 2 cores.

    Measured (bench/bench_learn.py, 12 MP, 6 + 6 different scenes, the full preset, the f/16
    diffraction modelled from a 3.3 um pitch; f/1.7 with the kernel widths learned per node, then
    matched to the photos' edges, and the measured lateral colour kept): f/16 17.8 min on a slow
    day with the two lens states sharing the 2 cores (the same code took 5.1 min on an earlier
    one), f/1.7 14.5 min alone with both threads; NCC 0.998 / 0.980, L2 0.29x / 0.42x the best
    single Gaussian's (f/16 without the diffraction model: 0.75x), lateral colour error 0.05 / 0.14
    px for the f/16 / f/1.7 lens. Longer step 2 measured worse (the fine nodes adapt to how the two
    sets' scenes differ).
    Patch work does not grow with the photo size (sampling gathers only patch pixels); development
    does."""


@dataclass(frozen=True)
class Balanced(LearnSettings):
    """Roughly 5x the work of ``fast`` (wider net, longer step 1, more cycles): an estimate of
    ~1 h on 2 CPU cores, minutes on a GPU (not measured). For wide-open lenses."""

    channels: tuple[int, ...] = (24, 48, 48)
    step1_steps: int = 8000
    step1_batch: int = 96
    step2_steps: int = 12000
    step2_min_steps: int = 3000
    step2_batch: int = 48
    kernel_lr_halving: int = 800
    coarse: tuple[int, int] | None = (4, 4)


@dataclass(frozen=True)
class Paper(LearnSettings):
    """The published GPU settings (Meanti et al. 2025): 64-px patches, batch 1024 for 16,384
    step-1 updates and 49,152 step-2 cycles at batch 128 with aux lr 1e-5 / kernel lr 4e-5 and no
    schedule. ~1-2 h on one H100; months on a 2-core CPU (~2.6e17 FLOP). The net here stays our
    plain U-Net, widened to the paper's 32/64/96/128 channels, not their 4.2M EDM2 net."""

    patch: int = 64
    centre_fraction: float = 0.2
    channels: tuple[int, ...] = (32, 64, 96, 128)
    fourier: int = 32
    step1_steps: int = 16384
    step1_batch: int = 1024
    step1_lr: float = 1e-2
    step2_steps: int = 49152
    step2_min_steps: int = 49152
    step2_batch: int = 128
    aux_lr: float = 1e-5
    kernel_lr: float = 4e-5
    kernel_lr_halving: int = 10**9
    kernel_lr_floor: float = 4e-5
    kernel_average: float = 0.0
    kernel_smooth: float = 0.0
    train_real: bool = False
    init_width: float = 3.0
    coarse: tuple[int, int] | None = None
    t_min: float = 0.0
    colour_weight: float = 0.0
    lateral_lr: float = 0.0
    lateral_measure: bool = False
    mirror: bool = False
    checkpoint_seconds: float = 600.0
    magnify: str = "off"
    edge_widths: str = "off"
    lateral_from: str = "learned"


PRESETS: dict[str, type[LearnSettings]] = {"fast": Fast, "balanced": Balanced, "paper": Paper}


def resolve_auto(settings: LearnSettings, diffraction_limited: bool | None) -> LearnSettings:
    """``magnify``, ``edge_widths`` and ``lateral_from`` "auto" made definite. A scale per node,
    the widths checked against the photos' edges and the lateral colour as measured, where
    aberrations dominate (they grow with field height, and the width pattern is what the kernels
    miss wide open); none of them where diffraction does (flat across the frame, so all a scale
    could learn there is the photos' composition) or where the f-number is unknown
    (optics.diffraction.diffraction_limited)."""
    aberrations = diffraction_limited is False
    changes = {}
    if settings.magnify == "auto":
        changes["magnify"] = "node" if aberrations else "off"
    if settings.edge_widths == "auto":
        changes["edge_widths"] = "pattern" if aberrations else "off"
    if settings.lateral_from == "auto":
        changes["lateral_from"] = "measured" if aberrations and settings.lateral_measure else "learned"
    return dataclasses.replace(settings, **changes)


def get_settings(preset: str, overrides: dict | None = None) -> LearnSettings:
    """The preset's settings with ``overrides`` applied (unknown keys are an error, not ignored)."""
    if preset not in PRESETS:
        raise LenscalError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    settings = PRESETS[preset]()
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(settings)}
    unknown = set(overrides) - known
    if unknown:
        raise LenscalError(f"unknown learn setting(s): {', '.join(sorted(unknown))}",
                           hint="see lenscal/learn/presets.py for the names")
    tuples = ("channels", "coarse")
    for key in tuples:
        if isinstance(overrides.get(key), list):
            overrides[key] = tuple(overrides[key])
    for key, value in overrides.items():  # a typo such as mirror=False must not pass as a truthy string
        default = getattr(settings, key)
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise LenscalError(f"learn setting {key} must be one of {', '.join(CHOICES[key])}, got {value!r}",
                                   hint=f"e.g. --set {key}={CHOICES[key][-1]}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise LenscalError(f"learn setting {key} must be true or false, got {value!r}",
                                   hint=f"e.g. --set {key}=false")
        elif isinstance(default, (int, float)) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise LenscalError(f"learn setting {key} must be a number, got {value!r}", hint=f"e.g. --set {key}={default}")
        if key in tuples and value is not None and not isinstance(value, tuple):
            raise LenscalError(f"learn setting {key} must be a list of numbers, got {value!r}",
                               hint=f"e.g. --set {key}=[3,3]")
        if key in RANGES and value is not None:
            overrides[key] = _check_range(key, value, RANGES[key], whole=key in tuples or isinstance(default, int),
                                          length=2 if key == "coarse" else None)
    return dataclasses.replace(settings, **overrides)


def _check_range(key: str, value, bounds: tuple[float, float], whole: bool, length: int | None):
    """``value`` within its range (RANGES), whole numbers made ints; anything else is refused."""
    lo, hi = bounds
    numbers = value if isinstance(value, tuple) else (value,)
    if not numbers or (length and len(numbers) != length) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
            and (not whole or float(v).is_integer()) for v in numbers):
        kind = "whole numbers" if isinstance(value, tuple) else ("a whole number" if whole else "a number")
        raise LenscalError(f"learn setting {key} must be {kind} from {lo:g} to {hi:g}, got {value!r}",
                           hint="see lenscal/learn/presets.py for what it does")
    if not whole:
        return value
    return tuple(int(v) for v in numbers) if isinstance(value, tuple) else int(value)
