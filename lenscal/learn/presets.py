"""What a learn learns with: the settings, one dataclass per preset; and how it runs (RunOptions).

Why presets: the published (GPU) settings are far beyond a laptop CPU, and the method works at a
much smaller scale because the flow model only has to capture local blur statistics as a
function of position (docs/method.md). ``fast`` is sized for a 2-core CPU; ``paper`` mirrors the
authors' GPU settings and is only sensible on a GPU.

A user may change the settings in SETTINGS (``lenscal learn --set NAME=VALUE``); the few other
fields of LearnSettings are fixed by the preset, and the learner's other constants live, with
their reasons, in the modules that use them (pipeline, match).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lenscal.errors import LenscalError

MAGNIFY = ("off", "node")  # how the fine grid's kernel scales are learned (match.GridModule.log_scales)
# the settings that take one of a few names
CHOICES = {"magnify": ("auto", *MAGNIFY), "edge_widths": ("auto", "pattern", "off"),
           "lateral": ("measured", "learned", "unmeasured"), "sharp_place": ("auto", "own", "random")}

# every setting a user may change with --set, and what it means (docs/method.md lists them too)
SETTINGS: dict[str, str] = {
    "patch": "flow patch size, px",
    "centre_fraction": "side of the sharp set's centre crops, as a fraction of each image side",
    "channels": "the velocity U-Net's channels per level, e.g. [8,16,16]",
    "step1_steps": "step 1 (the blurry set's patch distribution): training updates",
    "step1_batch": "step 1: patches per update",
    "step1_lr": "step 1: learning rate",
    "step2_steps": "step 2 (the PSF grid): most cycles (it stops earlier once the grid has settled)",
    "step2_min_steps": "step 2: fewest cycles before it may stop",
    "step2_batch": "step 2: patches per cycle",
    "aux_lr": "step 2: learning rate of the flow models",
    "kernel_lr": "step 2: starting learning rate of the kernels (it halves as step 2 goes on)",
    "kernel_smooth": "px, the fixed Gaussian every learned kernel is convolved with (0 = none)",
    "kernel_average": "the kernels reported are averaged over about 1/(1 - this) cycles (0 = the last)",
    "init_width": "px, the Gaussian every kernel starts as",
    "coarse": "learn this grid first, e.g. [3,3], then refine it to the full grid (null = no coarse grid)",
    "sharp_place": ("step 2's sharp crops: own (from the whole frame, at their own place), random (centre crops, "
                    "anywhere) or auto (own when both sets were devignetted, else random)"),
    "mirror": "average the grid with its mirror images (true for a centred lens; false for a decentred one)",
    "magnify": "a learned scale per node of the fine grid: node, off or auto (node unless diffraction-limited)",
    "edge_widths": ("after step 2, match the kernels' widths to the blurry photos' edges: auto (pattern unless "
                    "diffraction-limited), pattern or off"),
    "lateral": ("the lateral colour: measured (R and B registered to G in the blurry photos), learned (step 2 "
                "starts from the measurement and refines it) or unmeasured (step 2 alone)"),
}

# the valid range (inclusive) of every numeric setting, checked on --set (get_settings); for a
# tuple (channels, coarse), the range of each of its numbers
RANGES: dict[str, tuple[float, float]] = {
    "patch": (8, 256), "centre_fraction": (0.05, 1), "channels": (1, 1024), "step1_steps": (1, 10**7),
    "step1_batch": (1, 65536), "step1_lr": (0, 1), "step2_steps": (1, 10**7), "step2_min_steps": (0, 10**7),
    "step2_batch": (1, 65536), "aux_lr": (0, 1), "kernel_lr": (0, 1), "kernel_smooth": (0, 10),
    "kernel_average": (0, 0.99999), "init_width": (0.1, 20), "coarse": (1, 32),
}


@dataclass(frozen=True)
class RunOptions:
    """How a learn runs, not what it learns: never written into a profile, and free to change
    when a learn is resumed."""

    threads: int = 0  # torch CPU threads; 0 = every core (1 is faster on a core shared with others)
    progress_every: int = 10  # updates between calls of the progress callback
    checkpoint_seconds: float = 60.0  # between checkpoints (for resume); 0 = after every update
    check_every: int = 100  # step-2 cycles between grid snapshots for the stopping rule


@dataclass(frozen=True)
class LearnSettings:
    """The settings of steps 1 and 2 (defaults are the ``fast`` preset): those in SETTINGS,
    then a few that only a preset changes."""

    # data
    patch: int = 32  # clean crops are patch + kernel_size - 1
    centre_fraction: float = 0.5
    # the velocity net
    channels: tuple[int, ...] = (8, 16, 16)
    # step 1: conditional flow matching of blurry patches
    step1_steps: int = 2500
    step1_batch: int = 32
    step1_lr: float = 2e-3
    # step 2: distribution matching of the PSF grid
    step2_steps: int = 3000  # upper bound on cycles (real, aux and kernel step)
    step2_min_steps: int = 1500
    step2_batch: int = 32
    aux_lr: float = 3e-4
    kernel_lr: float = 1e-2
    kernel_smooth: float = 0.8  # see match.GridModule.kernels for why the kernels are smoothed
    # the kernels reported (and checked for stopping) are an average over the last cycles: each
    # update on a small batch jitters every kernel pixel. A long average also keeps some of the
    # refined coarse grid, a smoothness prior.
    kernel_average: float = 0.998
    init_width: float = 1.5
    coarse: tuple[int, int] | None = (3, 3)
    # a centred lens's blur is mirror-symmetric, and what the photos hold at each place (detail in
    # the middle, sky in a corner) is not, so mirrored places pool what they learned (reported
    # grid only: tying the nodes during step 2 learns worse)
    mirror: bool = True
    # where step 2's sharp crops come from (learn.patches.sample_own_place): at their own place the
    # two sets' composition (a detailed subject in the middle, soft backgrounds at the borders) is
    # compared like with like; centre crops shown anywhere read the borders' softer scenes as blur
    sharp_place: str = "auto"
    # "auto" values are made definite by resolve_auto, from whether the blurry set is
    # diffraction-limited and whether the photos were devignetted; see there for why
    magnify: str = "auto"
    edge_widths: str = "auto"  # learn.widths
    # learn.lateral: measured, and kept as measured after step 2 (learn.lateral.set_lateral):
    # step 2's gradient on the lateral colour is weak and noisy, stopped down or wide open
    lateral: str = "measured"

    # fixed by the preset (the published method's choices differ from ours), not --set
    fourier: int = 16  # Fourier features of the time and position inputs of the velocity net
    # keep training the real model in step 2 (match.Matcher.real_step): a short step 1 is not converged
    train_real: bool = True
    kernel_lr_halving: int = 600  # cycles per halving of the kernel lr ...
    kernel_lr_floor: float = 1e-3  # ... down to this
    t_min: float = 0.5  # step-2 time sampled in U(t_min, 1): away from pure noise, where blur shows
    colour_weight: float = 1.0  # pins the frame-average lateral colour to 0 (match.colour_offset_penalty)
    lateral_lr: float = 3e-3  # radial lateral colour of R and B (match.GridModule.lateral_shifts); 0 = fixed
    # the kernels written: learned (as step 2 left them), gaussian (each the Gaussian of its
    # centroid and covariance, optics.moments) or auto (resolve_auto: gaussian where diffraction-limited)
    kernel_shape: str = "auto"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Fast(LearnSettings):
    """CPU default, sized for about a quarter of an hour on 2 cores at any photo size (patch work
    does not grow with the photo size: sampling gathers only patch pixels; development does).
    A longer step 2 does not help: the fine nodes then adapt to how the two sets' scenes differ."""


@dataclass(frozen=True)
class Paper(LearnSettings):
    """The published GPU settings (Meanti et al. 2025): 64-px patches, batch 1024 for 16,384
    step-1 updates and 49,152 step-2 cycles at batch 128 with aux lr 1e-5 / kernel lr 4e-5 and no
    schedule, none of our additions (smoothing, coarse grid, lateral colour, mirror, scales).
    Only sensible on a GPU. The net here stays our plain U-Net, widened to the paper's
    32/64/96/128 channels, not their EDM2 net."""

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
    mirror: bool = False
    magnify: str = "off"
    edge_widths: str = "off"
    lateral: str = "unmeasured"
    sharp_place: str = "random"  # the published method's: crops from the sharp photos' centre
    kernel_shape: str = "learned"


PRESETS: dict[str, type[LearnSettings]] = {"fast": Fast, "paper": Paper}


def resolve_auto(settings: LearnSettings, diffraction_limited: bool | None,
                 devignetted: bool | None = None) -> LearnSettings:
    """``magnify``, ``edge_widths``, ``sharp_place`` and ``kernel_shape`` "auto" made definite. A
    scale per node and the widths checked against the photos' edges where aberrations dominate
    (they grow with field height, and the width pattern is what the kernels miss wide open);
    neither where diffraction does (flat across the frame, so all they could learn there is the
    photos' composition) or where the f-number is unknown (optics.diffraction.diffraction_limited).
    Sharp crops from their own place only in devignetted photos: with the vignetting left in, the
    kernels learned from them came out too narrow (likely because the borders' crops are darker,
    so noisier for their level, than step 2's one noise level for the whole frame models).
    Gaussian kernels (beyond the modelled diffraction) only where diffraction-limited: stopped
    down, what the Airy pattern leaves is a small, smooth aberration blur that a Gaussian holds,
    and of a kernel step 2 pins its moments better than its shape; wide open, aberrations give
    sharp cores with wide halos, which step 2 can learn and a Gaussian of the same spread loses."""
    aberrations = diffraction_limited is False
    changes = {}
    if settings.sharp_place == "auto":
        changes["sharp_place"] = "own" if devignetted else "random"
    if settings.magnify == "auto":
        changes["magnify"] = "node" if aberrations else "off"
    if settings.edge_widths == "auto":
        changes["edge_widths"] = "pattern" if aberrations else "off"
    if settings.kernel_shape == "auto":
        changes["kernel_shape"] = "gaussian" if diffraction_limited is True else "learned"
    return dataclasses.replace(settings, **changes)


def get_settings(preset: str, overrides: dict | None = None) -> LearnSettings:
    """The preset's settings with ``overrides`` applied (only names in SETTINGS; anything else is
    an error, not ignored)."""
    if preset not in PRESETS:
        raise LenscalError(f"unknown preset {preset!r}", hint="choose one of " + ", ".join(PRESETS))
    settings = PRESETS[preset]()
    overrides = dict(overrides or {})
    run = sorted(set(overrides) & {f.name for f in dataclasses.fields(RunOptions)})
    if run:
        raise LenscalError(f"{', '.join(run)}: not a learn setting but how the learn runs",
                           hint="lenscal learn --threads / --checkpoint-seconds, or learn_grid(options=RunOptions(...))")
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise LenscalError(f"unknown learn setting(s): {', '.join(sorted(unknown))}",
                           hint="the settings: " + ", ".join(SETTINGS) + " (docs/method.md says what each does)")
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
                           hint=f"{key}: {SETTINGS[key]}")
    if not whole:
        return value
    return tuple(int(v) for v in numbers) if isinstance(value, tuple) else int(value)
