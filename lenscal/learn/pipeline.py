"""learn_grid: two lists of linear photos in, a PSF grid, noise sigma and confidence out.

Drives step 1 (flow matching of the blurry patches) and step 2 (distribution matching of the
grid), reports progress through a callback and keeps a resumable checkpoint. Checkpoints hold
only tensors and plain containers, written atomically, and are read with
``torch.load(weights_only=True)``: a checkpoint can never run code.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lenscal.devices import pick_device
from lenscal.errors import LenscalError, ShootError
from lenscal.io.atomic import atomic_path
from lenscal.learn import checks, patches, widths
from lenscal.learn.flow import FlowTrainer
from lenscal.learn.lateral import measure_lateral, set_lateral
from lenscal.learn.match import GridModule, Matcher, confidence, node_change
from lenscal.learn.presets import LearnSettings, RunOptions, get_settings, resolve_auto
from lenscal.learn.selfcheck import SelfCheck, combine, judge
from lenscal.learn.unet import VelocityUNet, count_parameters
from lenscal.noise import estimate_noise, plane_noise
from lenscal.optics.diffraction import diffraction_kernels, diffraction_limited
from lenscal.optics.moments import gaussian_summary
from lenscal.optics.psf import mirror_average, ncc
from lenscal.progress import Progress

STEP1 = "step 1: blurry distribution"
STEP2 = "step 2: PSF grid"
WIDTHS = "kernel widths from the photos' edges"
CHECK = "self-check"
CHECKPOINT = "learn.pt"
# 2: the gains split into exposure and tint; 3: the grid's smoothing saved with it; 4: diffraction;
# 5: run options out of the settings, one exposure gain (no tint)
# 6: one lateral-colour setting (lateral), was lateral_measure and lateral_from; 7: kernel_shape
VERSION = 7

# The learner's fixed choices (not settings: none is worth tuning per lens).
LEVEL = 0.3  # the blurry set's mean is scaled to this before [0, 1] -> [-1, 1], whatever the exposure
CENTRE_MAX = 3072  # px, the most of each side of a sharp centre crop (memory: six crops of 24 MP photos, 0.4 GB)
EMA_STD = 0.05  # step 1's power-function EMA of the weights, relative std (EDM2): the model step 2 uses
# share of step-1 patches shown at another place of the frame than their own (patches.replace_corners),
# so the flow model also learns what does not depend on position
REPLACE_POSITION = 0.2
SIGMA_INIT = 0.01  # step 2's noise sigma starts here ([0, 1] units) and is learned, as in the paper
# with the diffraction modelled (learn_grid's ``diffraction``, optics.diffraction) the logits learn
# only the lens's own blur, which is narrower: less smoothing and a narrower start
DIFFRACTION_SMOOTH = 0.3  # px, instead of the kernel_smooth setting
DIFFRACTION_INIT_WIDTH = 0.6  # px, instead of init_width
COARSE_FRACTION = 0.35  # of step2_steps spent on the coarse grid before refining to the full grid
# stop step 2 (after step2_min_steps) when the largest relative change of a node between two
# snapshots (RunOptions.check_every apart) stays below STOP_CHANGE for STOP_PATIENCE snapshots in a row
STOP_CHANGE = 0.1
STOP_PATIENCE = 3


@dataclass
class LearnResult:
    grid: np.ndarray  # (R, C, 3, K, K) float32, every kernel non-negative and summing to 1
    sigma: float  # noise std of the blurry set, linear units (1.0 = sensor white)
    confidence: np.ndarray  # (R, C) in [0, 1]
    gains: np.ndarray  # (3,) blurry = gains x blur(sharp), per channel
    settings: dict
    check: SelfCheck | None = None  # the self-check's verdict (None when not run)
    history: dict = field(default_factory=dict)
    step2_grid: np.ndarray | None = None  # the grid as step 2 left it, before the steps that follow


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save, atomically (io.atomic): a kill leaves the old or the new file."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's state; weights_only, so anything but tensors and plain data is refused."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors, truncation, foreign objects
        raise LenscalError(f"the learning checkpoint cannot be read ({type(e).__name__})", path,
                           "run again without --resume to start over") from e
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise LenscalError("the learning checkpoint is of another version", path, "run again without --resume")
    return state


def _fingerprint(sharp: list[np.ndarray], blurry: list[np.ndarray]) -> list[float]:
    """A cheap signature of the inputs, so a checkpoint is not resumed on other photos."""
    return [float(len(sharp)), float(len(blurry)), *map(float, sharp[0].shape[:2]),
            *[round(float(img[::97, ::89].mean()), 5) for img in sharp + blurry]]


class _Run:
    """The state of one learn: data, models, RNG, history; knows how to save itself."""

    def __init__(self, sharp, blurry, s: LearnSettings, seed: int, device: torch.device, grid_shape, kernel_size,
                 checkpoint: Path | None, progress: Progress | None, diffraction: tuple[float, ...] | None = None,
                 f_number: float | None = None, options: RunOptions | None = None, devignetted: bool | None = None):
        s = resolve_auto(s, diffraction_limited(f_number, diffraction), devignetted)  # "auto" made definite
        self.s, self.device, self.seed = s, device, seed
        self.options = options or RunOptions()
        self.scales = [float(v) for v in diffraction] if diffraction else None
        found = diffraction_kernels(tuple(self.scales), kernel_size) if self.scales else None
        self.diffraction = None if found is None else torch.from_numpy(found)
        self.grid_shape, self.k = tuple(grid_shape), kernel_size
        self.checkpoint, self.progress = checkpoint, progress
        self.blurry, self.sharp = blurry, sharp
        self._edges: list[widths.Edges] | None = None  # the blurry photos' edges, read when first needed
        self.frame = blurry[0].shape[:2]
        mean_b, mean_s = checks.channel_means(blurry), checks.channel_means(sharp)
        if (mean_b <= 0).any() or (mean_s <= 0).any():
            raise LenscalError("a photo set is black in some channel; check the exposure")
        self.scale = float(LEVEL / mean_b.mean())
        # the blurry set's noise, measured in the photos (linear units, 1.0 = white); what the
        # profile reports. Step 2 learns its own sigma from SIGMA_INIT: on demosaiced photos the
        # noise is correlated, and one white sigma measured at the finest scale is too low for the
        # coarser scales the flow models see.
        self.noise = float(np.median([estimate_noise(img) for img in blurry]))
        self.noise_rgb = tuple(float(np.median([plane_noise(img[:, :, c]) for img in blurry])) for c in range(3))
        # One exposure ratio to start from; per-channel means of unpaired scenes mostly measure
        # the scenes' colours (not the white balance), so the per-channel
        # white-balance part is left to step 2's learned gains.
        self.gain0 = np.full(3, float(np.exp(np.mean(np.log(mean_b / mean_s)))))
        crops = [patches.centre_crop(img, s.centre_fraction, s.patch + kernel_size - 1 + 8, CENTRE_MAX)
                 for img in sharp]
        # into the blurry set's units; the centre crops (the sharpest part) serve the width readings
        # and the self-check, and step 2 where its crops are not to come from their own place
        self.level = torch.tensor(self.gain0 * self.scale, dtype=torch.float32)[:, None, None]
        self.crops = torch.from_numpy(np.stack(crops)) * self.level
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.flow = FlowTrainer(VelocityUNet(s.channels, s.fourier).to(device), s.step1_lr, EMA_STD)
        self.matcher: Matcher | None = None
        self.stage = "step1"
        self.history: dict = {"step1_loss": [], "step2_change": [], "step2_sigma": [], "resumed_at": []}
        self.snapshot: torch.Tensor | None = None
        self.calm = 0
        self.elapsed = 0.0
        self.last_save = time.perf_counter()
        self.fingerprint = _fingerprint(sharp, blurry)

    # -- data ---------------------------------------------------------------------------------
    def blurry_batch(self, n: int):
        y, pos, _ = patches.sample_blurry(self.blurry, n, self.s.patch, self.gen, REPLACE_POSITION)
        return patches.model_view(y * self.scale).to(self.device), pos.to(self.device)

    def clean_batch(self, n: int):
        if self.s.sharp_place == "own":  # gathered from the whole photos, scaled patch by patch
            x, pos, c = patches.sample_own_place(self.sharp, n, self.s.patch, self.k, self.gen)
            x = x * self.level
        else:
            x, pos, c = patches.sample_clean(self.crops, n, self.s.patch, self.k, self.frame, self.gen)
        return x.to(self.device), pos.to(self.device), c

    # -- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict:
        return {"version": VERSION, "stage": self.stage, "settings": self.s.to_dict(), "seed": self.seed,
                "diffraction": self.scales,
                "grid_shape": list(self.grid_shape), "kernel_size": self.k, "fingerprint": self.fingerprint,
                "step1": self.flow.state_dict(),
                "step2": self.matcher.state_dict() if self.matcher else None,
                "gen": self.gen.get_state(), "history": self.history, "snapshot": self.snapshot,
                "calm": self.calm, "elapsed": self.elapsed + time.perf_counter() - self.started}

    def save(self, force: bool = False) -> None:
        if self.checkpoint is None:
            return
        now = time.perf_counter()
        if force or now - self.last_save >= self.options.checkpoint_seconds:
            save_checkpoint(self.checkpoint, self.state())
            self.last_save = now

    def restore(self, state: dict) -> None:
        mine = {"settings": self.s.to_dict(), "seed": self.seed, "grid_shape": list(self.grid_shape),
                "kernel_size": self.k, "fingerprint": self.fingerprint, "diffraction": self.scales}
        for key, value in mine.items():
            theirs = state.get(key)
            if key == "settings":
                theirs = {k: list(v) if isinstance(v, tuple) else v for k, v in (theirs or {}).items()}
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            if theirs != value:
                words = {"grid_shape": "grid size", "kernel_size": "kernel size", "fingerprint": "set of photos",
                         "diffraction": "f-number or pixel pitch"}
                raise LenscalError(f"the checkpoint was made with another {words.get(key, key)}",
                                   self.checkpoint, "resume with the same photos and options, or start over")
        self.flow.load_state_dict(state["step1"])
        if state["step2"] is not None:
            self.start_matcher(measure=False)  # the checkpoint holds the grid, lateral shifts included
            self.matcher.load_state_dict(state["step2"])
        self.stage = state["stage"]
        self.gen.set_state(state["gen"])
        self.history = state["history"]
        self.snapshot = state["snapshot"]
        self.calm = int(state["calm"])
        self.elapsed = float(state["elapsed"])

    def report(self, stage: str, done: int, total: int, info: dict) -> None:
        """Call the progress callback; a KeyboardInterrupt from it (Ctrl-C) keeps the work done."""
        if self.progress is None:
            return
        try:
            self.progress(stage, done, total, info)
        except KeyboardInterrupt:
            self.save(force=True)
            raise

    # -- the two steps ------------------------------------------------------------------------
    def step1_key(self) -> dict:
        """What step 1 depends on: the blurry photos, its own settings and the seed."""
        own = ("patch", "channels", "fourier", "step1_steps", "step1_batch", "step1_lr")
        return {"version": VERSION, "seed": self.seed, "fingerprint": self.fingerprint,
                "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in self.s.to_dict().items() if k in own}}

    def run_step1(self, cache: Path | None = None) -> None:
        """Step 1, or its result from ``cache`` when that was made from the same photos and
        settings (to iterate on step 2 without paying for step 1 again)."""
        s = self.s
        if cache is not None and cache.is_file():
            state = torch.load(cache, map_location="cpu", weights_only=True)
            if state.get("key") == self.step1_key():
                self.flow.load_state_dict(state["step1"])
                self.gen.set_state(state["gen"])
                self.stage = "step2"
                return
        while self.flow.step_count < s.step1_steps:
            y1, pos = self.blurry_batch(s.step1_batch)
            loss = self.flow.step(y1, pos, self.gen)
            n = self.flow.step_count
            if n % self.options.progress_every == 0 or n == s.step1_steps:
                self.history["step1_loss"].append(loss)
                self.report(STEP1, n, s.step1_steps, {"loss": loss})
            self.save()
        self.stage = "step2"
        if cache is not None:
            save_checkpoint(cache, {"key": self.step1_key(), "step1": self.flow.state_dict(), "gen": self.gen.get_state()})

    def start_matcher(self, measure: bool = True) -> None:
        s = self.s
        first = s.coarse if s.coarse and tuple(s.coarse) < self.grid_shape else self.grid_shape
        measured = s.lateral != "unmeasured"
        lateral = s.lateral_lr > 0 or measured
        modelled = self.diffraction is not None
        grid = GridModule(*first, self.k, DIFFRACTION_INIT_WIDTH if modelled else s.init_width, SIGMA_INIT * self.scale,
                       smooth=DIFFRACTION_SMOOTH if modelled else s.kernel_smooth,
                       frame=self.frame if lateral else None, diffraction=self.diffraction,
                       magnify=s.magnify if first == self.grid_shape else "off").to(self.device)
        if measured and measure:  # registered in the blurry photos themselves (learn.lateral)
            coef, tiles = measure_lateral(self.blurry)
            self.history["lateral_measured"] = {"coefficients": coef.tolist(), "tiles": tiles}
            with torch.no_grad():
                grid.lateral.copy_(torch.as_tensor(coef, dtype=torch.float32))
        self.matcher = Matcher(self.flow.ema, grid, s, self.device)

    def run_step2(self) -> None:
        s = self.s
        if self.matcher is None:
            self.start_matcher()
        m = self.matcher
        n_coarse = int(COARSE_FRACTION * s.step2_steps) if (m.grid.rows, m.grid.cols) != self.grid_shape else 0
        every = self.options.check_every
        while m.step_count < s.step2_steps:
            if (m.grid.rows, m.grid.cols) != self.grid_shape and m.step_count >= n_coarse:
                # the kernel lr schedule goes on: the refined grid starts from a good estimate, and
                # at a restarted lr its nodes are thrown about
                m.set_grid(m.grid.refined(*self.grid_shape, s.magnify), keep_schedule=True)
                self.snapshot, self.calm = None, 0
            if s.train_real:
                m.real_step(*self.blurry_batch(s.step2_batch), self.gen)
            # the simulated patches stay at their own place (no REPLACE_POSITION), as in the
            # reference method: shown elsewhere too, the grid came out a little worse
            m.aux_step(*self.clean_batch(s.step2_batch), self.gen)
            info = m.kernel_step(*self.clean_batch(s.step2_batch), self.gen)
            n = m.step_count
            fine = (m.grid.rows, m.grid.cols) == self.grid_shape
            if n % every == 0:
                kernels = m.estimate()
                if fine and self.snapshot is not None:
                    change = node_change(kernels, self.snapshot)
                    self.history["step2_change"].append(change)
                    self.calm = self.calm + 1 if change < STOP_CHANGE else 0
                    info["change"] = change
                self.snapshot = kernels
                self.history["step2_sigma"].append(info["sigma"] / self.scale)
            if n % self.options.progress_every == 0:
                self.report(STEP2, n, s.step2_steps, info)
            if fine and n >= s.step2_min_steps and self.calm >= STOP_PATIENCE:
                break
            self.save()
        self.stage = "done"
        self.report(STEP2, s.step2_steps, s.step2_steps, {"stopped_at": m.step_count})

    def check_widths(self, kernels: torch.Tensor) -> torch.Tensor:
        """The grid's width pattern across the frame taken from the blurry photos' edges
        (learn.widths), in the units the grid was learned in (the blurry photos scaled to
        ``level``, the sharp crops by the learned exposure ratio)."""
        if self.progress:
            self.progress(WIDTHS, 0, 1, {})
        m = self.matcher
        gain = float(m.grid.gains().detach().cpu()[1])
        gen = torch.Generator().manual_seed(self.seed + 1)
        tiles = widths.sharp_tiles(self.crops, gen) * gain
        out, info = widths.calibrate(kernels, self.edges()[1], tiles, self.noise_rgb[1] * self.scale, self.s.mirror, gen)
        self.history["edge_widths"] = info
        if self.progress:
            self.progress(WIDTHS, 1, 1, {})
        return out

    def measured_lateral(self, kernels: torch.Tensor) -> torch.Tensor:
        """The kernels with the lateral colour measured in the blurry photos, where that is the
        setting (``lateral="measured"``) and it was measured; otherwise as they are."""
        if self.s.lateral != "measured" or "lateral_measured" not in self.history:
            return kernels
        return set_lateral(kernels, np.asarray(self.history["lateral_measured"]["coefficients"]), self.frame)

    def summarise(self, kernels: torch.Tensor) -> torch.Tensor:
        """With ``kernel_shape="gaussian"``, every kernel as the Gaussian of its centroid and
        covariance, the diffraction modelled kept exact (optics.moments): what step 2 pins down
        of a kernel, without the fine shape it does not."""
        if self.s.kernel_shape != "gaussian":
            return kernels
        return gaussian_summary(kernels, self.diffraction).to(kernels.dtype)

    def edges(self) -> list[widths.Edges]:
        """The blurry photos' edge readings in R, G and B (in the units the grid was learned in),
        read once: the width calibration and both self-checks compare grids with the same edges."""
        if self._edges is None:
            rows, cols = self.grid_shape
            self._edges = widths.blurry_edges(self.blurry, rows, cols, self.s.mirror,
                                              tuple(v * self.scale for v in self.noise_rgb), self.scale)
        return self._edges

    def forward(self, kernels: torch.Tensor, gain: float) -> dict:
        """The self-check's readings of a grid (learn.widths.forward_check), with ``gain`` the
        learned G exposure ratio relative to the starting one (the crops' units to the blurry
        photos')."""
        gen = torch.Generator().manual_seed(self.seed + 2)
        return widths.forward_check(kernels, self.edges(), self.crops * gain, tuple(v * self.scale for v in self.noise_rgb),
                                    self.s.mirror, gen)

    def self_check(self, kernels: torch.Tensor) -> SelfCheck:
        """Does the final grid, applied to the sharp crops, reproduce the blurry photos' edges?"""
        if self.progress:
            self.progress(CHECK, 0, 1, {})
        forward = self.forward(kernels, float(self.matcher.grid.gains().detach().cpu()[1]))
        self.history["self_check"] = forward
        if self.progress:
            self.progress(CHECK, 1, 1, {})
        return judge(forward)

    def result(self) -> LearnResult:
        m = self.matcher
        kernels = m.estimate()
        step2_grid = kernels.numpy().astype(np.float32)  # before any post-processing
        rows, cols = self.grid_shape
        stability = (ncc(kernels, self.snapshot).numpy() if self.snapshot is not None
                     and self.snapshot.shape == kernels.shape else np.ones((rows, cols)))
        if self.s.mirror:
            kernels = mirror_average(kernels)
        if self.s.edge_widths == "off":
            kernels = self.summarise(self.measured_lateral(kernels))
            check = self.self_check(kernels)
        else:
            # The edge-width calibration fits the kernels to the same edges the self-check reads,
            # so a check of the calibrated grid alone would pass whatever step 2 learned: the grid
            # must agree with the photos before the calibration too (it only fine-tunes).
            before = self.self_check(self.measured_lateral(kernels))
            self.history["self_check_before_widths"] = self.history.pop("self_check")
            kernels = self.summarise(self.measured_lateral(self.check_widths(kernels)))
            check = combine(before, self.self_check(kernels))
        conf = confidence(m.coverage.numpy().reshape(rows, cols), stability.reshape(rows, cols))
        gains = self.gain0 * m.grid.gains().detach().cpu().double().numpy()
        settings = {**self.s.to_dict(), "device": str(self.device), "grid_shape": list(self.grid_shape),
                    "kernel_size": self.k, "parameters": count_parameters(self.flow.model),
                    "step2_cycles": m.step_count, "seed": self.seed,
                    "sigma_from": "measured" if self.noise > 0 else "learned",
                    "diffraction_scales": self.scales if self.diffraction is not None else None}
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
        history = {**self.history, "seconds": self.elapsed + time.perf_counter() - self.started}
        sigma = self.noise if self.noise > 0 else m.grid.sigma.detach().abs().item() / self.scale
        return LearnResult(grid=kernels.numpy().astype(np.float32), sigma=sigma,
                           confidence=conf, gains=gains.astype(np.float32), settings=settings, check=check,
                           history=history, step2_grid=step2_grid)


def learn_grid(sharp: list[np.ndarray], blurry: list[np.ndarray], *, preset: str = "fast", seed: int = 0,
               device: str = "auto", grid_shape=(8, 8), kernel_size: int = 13, checkpoint_dir: Path | None = None,
               resume: bool = False, progress: Progress | None = None, overrides: dict | None = None,
               diffraction: tuple[float, float, float] | None = None, f_number: float | None = None,
               step1_cache: Path | None = None, options: RunOptions | None = None,
               f_number_sharp: float | None = None, devignetted: bool | None = None) -> LearnResult:
    """Learn the PSF grid that blurs the sharp set into the blurry set, place by place.

    ``sharp`` and ``blurry`` are linear float32 (H, W, 3) photos of one size (1.0 = sensor white),
    at least two each. ``progress(stage, done, total, info)`` is called every few updates; a
    KeyboardInterrupt raised from it (or Ctrl-C) leaves a checkpoint that ``resume=True``
    continues. Raises ShootError when the sets cannot be used (e.g. the sharp set is not sharper).
    ``diffraction``: the blurry set's per-channel Airy scales in px beyond the sharp set's
    (optics.diffraction.relative_scales); when significant, the kernels are learned on top of it.
    ``f_number``: the blurry set's, which (with ``diffraction``) decides ``magnify="auto"``;
    with ``f_number_sharp`` (the sharp set's) it also decides whether sets whose edges look
    alike are refused (learn.widths.Sharpness.refusal).
    ``devignetted``: whether both sets' vignetting was corrected (decides ``sharp_place="auto"``).
    ``options``: how it runs (threads, how often it reports and saves), not what it learns.
    """
    s = get_settings(preset, overrides)
    options = options or RunOptions()
    torch.set_num_threads(options.threads or os.cpu_count() or 1)
    dev = torch.device(pick_device(device))
    if kernel_size % 2 == 0 or kernel_size < 3:
        raise LenscalError(f"kernel size must be odd and >= 3, got {kernel_size}")
    checks.validate(sharp, blurry, s.patch + kernel_size - 1 + 8)
    sharpness = widths.compare_sets(sharp, blurry)
    refusal = sharpness.refusal(f_number_sharp, f_number)
    if refusal:
        raise ShootError(refusal, hint="put the photos at the sharp aperture in the sharp folder and check their focus")
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if progress:
        progress("preparing patches", 0, 1, {})
    run = _Run(sharp, blurry, s, seed, dev, grid_shape, kernel_size, path, progress, diffraction, f_number, options,
               devignetted)
    if resume:
        if path is None or not path.exists():
            raise LenscalError("nothing to resume: no learning checkpoint", checkpoint_dir,
                               "run again without --resume")
        run.restore(load_checkpoint(path))
        run.history["resumed_at"].append([run.flow.step_count, run.matcher.step_count if run.matcher else 0])
    unseen = sharpness.verdict()
    if unseen:  # not refused: the apertures differ (Sharpness.refusal)
        run.history["sharpness_unseen"] = unseen
    if progress:
        progress("preparing patches", 1, 1, {})
    run.started = time.perf_counter()
    if run.stage == "step1":
        run.run_step1(step1_cache)
        run.save(force=True)
    if run.stage == "step2":
        run.run_step2()
        run.save(force=True)
    return run.result()
