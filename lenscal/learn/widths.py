"""Each node's kernel width checked against the blurry photos' own edges, after step 2.

Why: wide open, distribution matching gets the mean width of the grid right but not how fast it
grows towards the corners (the middle comes out too wide and the corners too narrow: the
objective is nearly flat along that direction). An edge's width needs no sharp reference:
at an isolated edge, the gradient magnitude read with a Gaussian derivative of scale s falls as
1 / sqrt(w^2 + s^2), so three scales give its width w^2 and whether it is isolated (the three
read-outs on one line). A low percentile of w^2 over the edges near each node follows the lens
and not the photos' composition nearly as much as the patch distributions do, so the pattern
of widths across the frame read from the edges is closer to the lens's than step 2's. The
photos' own softness adds about the same w^2 everywhere, so only the pattern is used: each
node's kernel is stretched until sharp centre crops blurred by it show the measured pattern, on
top of the grid's mean width as step 2 found it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lenscal.noise import channel_noise, gradient_ratio
from lenscal.optics.psf import centroid, magnify

SCALES = (0.8, 1.4, 2.0)  # px: the Gaussian-derivative scales an edge's gradient is read at
LINEAR = 0.15  # the three read-outs must be on one line within this (an isolated edge, not texture)
PERCENTILE = 25.0  # of w^2 over a node's edges: the sharpest edges are limited by the lens alone
CONTRAST = 0.1  # an edge's gradient at the finest scale, relative to the photos' mean G
NOISE_FLOOR = 4.0  # edges are read only this far above the noise's RMS gradient at the finest scale
LEVEL_SCALE = 2.0  # px: the local level that sets the local noise (shot noise grows with the signal) is read this smooth
MIN_EDGES = 200  # fewer near a node and its kernel is left as step 2 found it
STRETCH = np.linspace(-1.2, 0.8, 11)  # log-scales tried per node (x0.30 .. x2.2), interpolated
TILE, TILES, MARGIN = 256, 48, 16  # sharp tiles blurred by each kernel; wrap-around margin dropped


def _gaussian(s: float, order: int) -> torch.Tensor:
    r = int(np.ceil(4 * s))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-x**2 / (2 * s * s))
    g /= g.sum()
    return g if order == 0 else -x / (s * s) * g


def _gradient(images: torch.Tensor, s: float) -> torch.Tensor:
    """|grad| at scale s of (N, 1, H, W), separable and reflect-padded (for whole photos)."""
    g0, g1 = _gaussian(s, 0), _gaussian(s, 1)
    r = len(g0) // 2
    p = F.pad(images, (r, r, r, r), mode="reflect")
    gx = F.conv2d(F.conv2d(p, g1.view(1, 1, 1, -1)), g0.view(1, 1, -1, 1))
    gy = F.conv2d(F.conv2d(p, g0.view(1, 1, 1, -1)), g1.view(1, 1, -1, 1))
    return torch.hypot(gx, gy)


def noise_gradient(sigma: float, s: float = SCALES[0]) -> float:
    """The RMS gradient magnitude that white noise of std ``sigma`` shows at scale ``s``."""
    g0, g1 = _gaussian(s, 0), _gaussian(s, 1)
    return float(sigma * np.sqrt(2 * float((g1**2).sum()) * float((g0**2).sum())))


WHITE_RATIO = noise_gradient(1.0)  # white noise's RMS gradient at the finest scale per unit std
RATIO_PHOTOS = 2  # photos of a set its noise's gradient ratio is read in (one demosaicing: they agree)
# the most a ratio is read as: white noise smoothed by a Gaussian of any width shows no more (an
# interpolating demosaicing's G about as much); detail left in the flattest blocks of photos full
# of it reads higher, and would raise the threshold above real edges
MAX_RATIO = 0.62


@dataclass(frozen=True)
class PlaneNoise:
    """One channel's noise, in the units its photos are read in: variance = floor + slope *
    level (shot noise grows with the signal: a photo's highlights can be several times noisier
    than its median), and ``ratio``, its RMS gradient at the finest scale per unit std (demosaiced
    noise answers a fine gradient filter more strongly than white noise: noise.gradient_ratio)."""

    floor: float
    slope: float = 0.0
    ratio: float = WHITE_RATIO

    @classmethod
    def white(cls, sigma: float) -> PlaneNoise:
        return cls(float(sigma) ** 2)

    @classmethod
    def of(cls, planes: list[np.ndarray]) -> PlaneNoise:
        """Measured in photos' planes of one channel: the line's median over the photos, the ratio's
        over the first RATIO_PHOTOS; white noise of the planes' RMS noise where no line can be read."""
        lines = [line for line in map(channel_noise, planes) if line is not None]
        if not lines:  # no photo has blocks to read it in: the contrast threshold alone
            return cls(0.0)
        ratios = []
        for p in planes[:RATIO_PHOTOS]:
            g = _gradient(torch.from_numpy(np.ascontiguousarray(p, dtype=np.float32))[None, None], SCALES[0])
            r = gradient_ratio(p, g[0, 0].numpy() ** 2)
            if r is not None:
                ratios.append(r)
        return cls(float(np.median([f for f, _ in lines])), float(np.median([k for _, k in lines])),
                   float(np.clip(np.median(ratios), WHITE_RATIO, MAX_RATIO)) if ratios else WHITE_RATIO)

    def lesser(self, other: PlaneNoise, level: float = 0.2) -> PlaneNoise:
        """Of two readings of one camera's noise (two sets of photos), the lower at ``level``, with
        the lower ratio: detail that no block of a photo is free of reads as more noise, never
        less, so the lower reading is the nearer."""
        low = min(self, other, key=lambda n: n.floor + n.slope * level)
        return PlaneNoise(low.floor, low.slope, min(self.ratio, other.ratio))

    def std(self, level: torch.Tensor) -> torch.Tensor:
        """The noise std at each (local) signal ``level``."""
        return (self.floor + self.slope * level.clamp_min(0)).clamp_min(0).sqrt()


@dataclass(frozen=True)
class Threshold:
    """The finest gradient an edge must reach to be read, pixel by pixel: ``contrast``, and
    NOISE_FLOOR times the noise's own RMS gradient at the local level (weaker steps read the noise's
    fluctuations, which look sharper than any lens draws, as edges)."""

    contrast: float
    noise: PlaneNoise

    def at(self, images: torch.Tensor) -> torch.Tensor:
        """The threshold over images (N, 1, H, W), from their local level."""
        if self.noise.slope == 0:
            return images.new_tensor(self.uniform)
        level = _smooth(images, LEVEL_SCALE)
        return (NOISE_FLOOR * self.noise.ratio * self.noise.std(level)).clamp_min(self.contrast)

    @property
    def uniform(self) -> float:
        """The one threshold of noise that does not grow with the signal."""
        if self.noise.slope > 0:
            raise ValueError("the threshold depends on the level")
        return max(self.contrast, NOISE_FLOOR * self.noise.ratio * float(np.sqrt(self.noise.floor)))


def _smooth(images: torch.Tensor, s: float) -> torch.Tensor:
    g = _gaussian(s, 0)
    r = len(g) // 2
    p = F.pad(images, (r, r, r, r), mode="reflect")
    return F.conv2d(F.conv2d(p, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))


def edge_widths(m: list[torch.Tensor], threshold: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """w^2 (px^2) at isolated edges from gradient magnitudes at SCALES, and the edges' mask.

    Edges: local maxima of the finest magnitude above ``threshold`` (one value, or one per pixel)
    where 1/|grad|^2 is linear in s^2 (an ideal blurred step: 1/|grad|^2 ~ w^2 + s^2); w^2 is
    where that line meets s^2 = 0. Noise adds to the finest magnitude most and would read as
    sharpness: ``threshold`` should stand well above the noise's own gradient (:class:`Threshold`).
    """
    y = [1 / v.clamp_min(1e-9) ** 2 for v in m]
    x = [s * s for s in SCALES]
    slope = (y[2] - y[0]) / (x[2] - x[0])
    inner = (y[1] - y[0]) / (x[1] - x[0])
    w2 = y[0] / slope.clamp_min(1e-12) - x[0]
    mask = ((m[0] == F.max_pool2d(m[0], 3, 1, 1)) & (m[0] > threshold) & (slope > 0)
            & ((inner / slope.clamp_min(1e-12) - 1).abs() < LINEAR))
    return w2, mask


def edge_threshold(images_g: list[np.ndarray], sigma: float | PlaneNoise) -> Threshold:
    """The finest gradient an edge must reach to be read: CONTRAST of the photos' mean level,
    and NOISE_FLOOR times the noise's own RMS gradient (``sigma``: white noise's std, or a
    :class:`PlaneNoise`)."""
    noise = sigma if isinstance(sigma, PlaneNoise) else PlaneNoise.white(sigma)
    return Threshold(CONTRAST * float(np.mean([x.mean() for x in images_g])), noise)


def _cells(rows: int, cols: int, mirror: bool) -> np.ndarray:
    """(rows, cols): the cell id (r * cols + c of a node) each node reads its edges from: its
    own, or with ``mirror`` that of the top-left quarter's node it mirrors (the grid is reported
    mirror-averaged, so they are one kernel)."""
    r, c = np.arange(rows), np.arange(cols)
    if mirror:
        r, c = np.minimum(r, rows - 1 - r), np.minimum(c, cols - 1 - c)
    return r[:, None] * cols + c[None, :]


def edge_points(planes: list[np.ndarray], threshold: Threshold) -> tuple[np.ndarray, np.ndarray]:
    """Every isolated edge of the planes above ``threshold``: its w^2 and its place (N, 2) as a
    fraction of the frame (0 at the first row or column, 1 at the last)."""
    values: list[np.ndarray] = []
    places: list[np.ndarray] = []
    for img in planes:
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
        w2, mask = edge_widths([_gradient(t, s) for s in SCALES], threshold.at(t))
        yx = mask[0, 0].nonzero().numpy()
        values.append(w2[0, 0][mask[0, 0]].numpy())
        places.append(yx / np.maximum(np.array(img.shape[:2]) - 1, 1))
    return np.concatenate(values), np.concatenate(places)


def bin_edges(points: tuple[np.ndarray, np.ndarray], rows: int, cols: int, mirror: bool,
              min_edges: int = MIN_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Per node (rows, cols): the PERCENTILE of the :func:`edge_points`' w^2 nearest it, NaN
    where there are fewer than ``min_edges``, and the edge counts.

    Nearest, not unmixed: the blur between nodes is their bilinear mix, so a corner's cell reads
    narrower than its node. Solving the cells' readings for the nodes' (the cells' mean bilinear
    weights) undoes that on a clean synthetic grid, but on real photos it makes the nodes'
    readings noisier, so the cells (small on an 8x8 grid) are read as they are.
    """
    v, yx = points
    cell = _cells(rows, cols, mirror)
    i = cell[np.rint(yx[:, 0] * (rows - 1)).astype(int), np.rint(yx[:, 1] * (cols - 1)).astype(int)]
    count = np.bincount(i, minlength=rows * cols)
    stat = np.full(rows * cols, np.nan)
    for k in np.flatnonzero(count >= min_edges):
        stat[k] = np.percentile(v[i == k], PERCENTILE)
    return stat[cell], count[cell]


def measure_edges(blurry_g: list[np.ndarray], rows: int, cols: int, mirror: bool,
                  threshold: Threshold, min_edges: int = MIN_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Per node (rows, cols): the PERCENTILE of w^2 over the edges nearest it in the blurry
    photos (G, in the units of ``threshold``), NaN where there are fewer than ``min_edges``, and
    the edge counts (:func:`edge_points`, :func:`bin_edges`)."""
    return bin_edges(edge_points(blurry_g, threshold), rows, cols, mirror, min_edges)


@dataclass(frozen=True)
class Edges:
    """One channel's sharpest-edge reading of the blurry photos: the finest gradient an edge had
    to reach, and per node the PERCENTILE of w^2 (NaN where too few edges) and the edge count."""

    threshold: Threshold
    measured: np.ndarray  # (rows, cols)
    count: np.ndarray  # (rows, cols)


def read_edges(planes: list[np.ndarray], rows: int, cols: int, mirror: bool, sigma: float) -> Edges:
    """:class:`Edges` of one channel's planes, whose noise is ``sigma``."""
    threshold = edge_threshold(planes, sigma)
    return Edges(threshold, *measure_edges(planes, rows, cols, mirror, threshold))


def blurry_edges(blurry: list[np.ndarray], rows: int, cols: int, mirror: bool, sigma: tuple[float, ...],
                 scale: float = 1.0) -> list[Edges]:
    """R, G and B :class:`Edges` of photos (H, W, 3) times ``scale``, one channel plane at a time
    (no scaled copy of a whole photo is held); ``sigma``: their noise per channel, scaled.

    The readings depend on the photos alone, not on any grid: a learn reads them once for the
    width calibration and both self-checks (on large photos, reading them is most of a check's time).
    """
    out = []
    for c in range(3):
        planes = [np.ascontiguousarray(img[:, :, c], dtype=np.float32) * np.float32(scale) for img in blurry]
        out.append(read_edges(planes, rows, cols, mirror, sigma[c]))
    return out


ZONES = ("centre", "top and bottom", "left and right", "corners", "whole frame")  # 3x3 mirror-pooled, and all
CLEARLY = 0.15  # px^2 of w^2 more than the sharp set's: "clearly blurrier" (a blur of ~0.3 px)
# px^2 of w^2 less than the sharp set's over the whole frame: folders swapped, beyond what two
# sets shot at one aperture differ by
SWAPPED = 0.5


@dataclass(frozen=True)
class Sharpness:
    """The sharpest edges' widths (w^2, px^2) of two sets in the same ZONES of the frame (NaN
    where a set has too few edges there)."""

    sharp: np.ndarray  # (5,)
    blurry: np.ndarray  # (5,)

    def blurrier(self) -> np.ndarray:
        """Per zone: is the blurry set clearly blurrier there? (False where unmeasured.) Widths
        add in quadrature, so the difference of w^2 is the extra blur's own."""
        return np.nan_to_num(self.blurry - self.sharp, nan=-np.inf) > CLEARLY

    def verdict(self) -> str | None:
        """None when the blurry set is blurrier somewhere (or the sets cannot be compared), else
        a sentence saying what was found."""
        measured = np.isfinite(self.blurry - self.sharp)
        if not measured.any() or self.blurrier().any():
            return None
        i = int(np.flatnonzero(measured)[0])
        return (f"the blurry set is not blurrier than the sharp set anywhere in the frame (its sharpest edges "
                f"{edge_width(self.blurry[i]):.2f} px wide against {edge_width(self.sharp[i]):.2f} px in the {ZONES[i]})")

    def refusal(self, f_sharp: float | None, f_blurry: float | None) -> str | None:
        """Why the sets cannot be learned from, or None: the :meth:`verdict`, unless the photos
        say they were shot at different f-numbers.

        Why: the edges cannot see every blur. A wide-open lens whose centre hardly changes
        between the apertures, a blur wider than the scales the edges are read at, or the noise
        of a high ISO leave the sharpest edges alike in both sets while the lens blurs the
        blurry set. Given two apertures the learn goes on and its self-check judges the profile;
        the verdict is then a note (``lenscal check`` says the same). Folders swapped still
        read as the blurry set clearly the sharper over the whole frame, and are refused.
        """
        if not apertures_differ(f_sharp, f_blurry):
            return self.verdict()
        swapped = self.blurry[-1] - self.sharp[-1] < -SWAPPED  # False where unmeasured (NaN)
        return self.verdict() if swapped else None

    def to_dict(self) -> dict:
        return {z: {"sharp_px2": _num(a), "blurry_px2": _num(b)} for z, a, b in zip(ZONES, self.sharp, self.blurry)}


def apertures_differ(f_sharp: float | None, f_blurry: float | None) -> bool:
    """Whether both sets' photos give their f-number and the two differ (by more than rounding)."""
    return bool(f_sharp and f_blurry and abs(np.log(f_blurry / f_sharp)) > 0.05)


def edge_width(w2: float) -> float:
    """An edge's width in px from its w^2 (which a very sharp edge can read just below 0)."""
    return float(np.sqrt(max(w2, 0.0)))


def _num(v: float) -> float | None:
    return round(float(v), 3) if np.isfinite(v) else None


def set_widths(images: list[np.ndarray], noise: PlaneNoise) -> np.ndarray:
    """The PERCENTILE of edge w^2 (G channel) per ZONE of a set of linear photos, read above
    ``noise`` (their G channel's)."""
    g = [np.ascontiguousarray(img[:, :, 1], dtype=np.float32) for img in images]
    points = edge_points(g, edge_threshold(g, noise))  # read once, binned two ways
    zones, _ = bin_edges(points, 3, 3, True)
    whole, _ = bin_edges(points, 1, 1, False, min_edges=MIN_EDGES // 4)
    return np.array([*zones[[1, 0, 1, 0], [1, 1, 0, 0]], whole[0, 0]])


def compare_sets(sharp: list[np.ndarray], blurry: list[np.ndarray], noise: PlaneNoise | None = None) -> Sharpness:
    """Like with like: the sharpest edges of both sets at the same places of the frame.

    Both sets are read the same way (G, the sharpest edges of each zone), so what the scenes
    share (the steps of in-focus edges) cancels, and a lens that is as sharp in the middle at
    both apertures but softer in the corners wide open is still told apart. One function for
    ``lenscal check`` and for ``learn``'s refusal, so the two can never disagree. Both are read
    above the same noise, the camera's (:func:`camera_noise`, unless given).
    """
    noise = camera_noise(sharp, blurry) if noise is None else noise
    return Sharpness(set_widths(sharp, noise), set_widths(blurry, noise))


def camera_noise(sharp: list[np.ndarray], blurry: list[np.ndarray]) -> PlaneNoise:
    """The G channel's noise of one camera's two sets of linear (H, W, 3) photos: the lesser of
    the two sets' readings (:meth:`PlaneNoise.lesser`)."""
    def g(images: list[np.ndarray]) -> PlaneNoise:
        return PlaneNoise.of([np.ascontiguousarray(img[:, :, 1], dtype=np.float32) for img in images])

    return g(sharp).lesser(g(blurry))


def sharp_tiles(crops: torch.Tensor, gen: torch.Generator, count: int = TILES, channel: int = 1) -> torch.Tensor:
    """``count`` random TILE x TILE windows of one channel of the sharp centre crops (N, TILE, TILE)."""
    n, _, h, w = crops.shape
    size = min(TILE, h, w)
    pick = torch.randint(0, n, (count,), generator=gen)
    y = torch.randint(0, h - size + 1, (count,), generator=gen)
    x = torch.randint(0, w - size + 1, (count,), generator=gen)
    return torch.stack([crops[p, channel, a:a + size, b:b + size] for p, a, b in zip(pick, y, x)]).float()


class _Blurrer:
    """The sharp tiles blurred by any kernel, plus fixed white noise, read at SCALES, all by FFT:
    one forward transform of tiles and noise, then six inverse ones per kernel."""

    def __init__(self, tiles: torch.Tensor, sigma: float, gen: torch.Generator):
        self.size = tiles.shape[-1]
        self.f_tiles = torch.fft.rfft2(tiles)
        self.f_noise = torch.fft.rfft2(sigma * torch.randn(tiles.shape, generator=gen))
        fy = torch.fft.fftfreq(self.size)[:, None]
        fx = torch.fft.rfftfreq(self.size)[None, :]
        self.derivatives = []
        for s in SCALES:  # Fourier transforms of the Gaussian derivatives (d/dy, d/dx) at scale s
            g = torch.exp(-2 * (np.pi * s) ** 2 * (fy**2 + fx**2))
            self.derivatives.append((2j * np.pi * fy * g, 2j * np.pi * fx * g))

    def widths(self, kernel: torch.Tensor, threshold: Threshold) -> np.ndarray:
        """w^2 at the isolated edges of the tiles blurred by ``kernel`` (K, K), above a
        ``threshold`` of white noise (one value over the tiles)."""
        k = kernel.shape[-1]
        padded = torch.zeros(self.size, self.size)
        padded[:k, :k] = kernel.float()
        padded = torch.roll(padded, (-(k // 2), -(k // 2)), (0, 1))  # centred at the origin
        spectrum = self.f_tiles * torch.fft.rfft2(padded) + self.f_noise
        m = []
        for dy, dx in self.derivatives:
            gy = torch.fft.irfft2(spectrum * dy, s=(self.size, self.size))
            gx = torch.fft.irfft2(spectrum * dx, s=(self.size, self.size))
            m.append(torch.hypot(gy, gx)[:, None, MARGIN:-MARGIN, MARGIN:-MARGIN])
        w2, mask = edge_widths(m, threshold.uniform)
        return w2[mask].numpy()


def _stretch(kernels: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Kernels (..., 3, K, K) stretched by one scale per node, each channel about its own
    centroid, so the lateral colour (R and B against G) is kept."""
    c = centroid(kernels)  # (..., 3, 2) px from the window centre
    return magnify(kernels, log_scale[..., None].expand(kernels.shape[:-2]), about=c)


def calibrate(grid: torch.Tensor, edges: Edges, tiles: torch.Tensor, sigma: float,
              mirror: bool, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
    """The grid (rows, cols, 3, K, K) with each node stretched until the sharp tiles blurred by
    it show the pattern of sharpest-edge widths across the frame that the blurry photos show,
    on top of the grid's mean width as step 2 found it; and what was measured.

    ``edges`` (the blurry photos' G reading, :func:`read_edges`), ``tiles`` (the sharp centre
    crops' G, in the blurry photos' units: exposure ratio applied) and ``sigma`` (the blurry
    photos' noise) share units. Only the pattern: the photos' own softness adds about the same
    w^2 at every place, and the edges read a sharp core with a halo as its core, so they cannot
    set the mean width (setting it from them, or every place's width, or each place's width
    beyond the sharp photos' at the same place, measured further from the truth, wide open and
    stopped down: docs/benchmarks.md).
    """
    rows, cols = grid.shape[:2]
    threshold, measured, count = edges.threshold, edges.measured, edges.count
    blurrer = _Blurrer(tiles, sigma, gen)
    unique, node_of = np.unique(_cells(rows, cols, mirror), return_inverse=True)  # one kernel per cell
    table = np.zeros((len(STRETCH), len(unique)))  # the statistic per tried stretch and cell
    for j, (r, c) in enumerate(zip(*np.divmod(unique, cols))):
        g = grid[r, c, 1].double()
        stretched = magnify(g.expand(len(STRETCH), -1, -1), torch.from_numpy(STRETCH), about=centroid(g))
        for i, k in enumerate(stretched):
            w2 = blurrer.widths(k, threshold)
            table[i, j] = np.percentile(w2, PERCENTILE) if len(w2) else np.nan
    node_measured = measured.reshape(-1)[unique]
    ok = np.isfinite(node_measured) & np.isfinite(table).all(0)
    log_scale = np.zeros(len(unique))
    start = table[np.argmin(np.abs(STRETCH)), :]  # the grid as step 2 left it
    if ok.sum() >= 2:
        weight = count.reshape(-1)[unique][ok].astype(float)
        offset = np.average(node_measured[ok] - start[ok], weights=weight)  # edges' mean width beyond step 2's
        target = node_measured - offset
        for j in np.flatnonzero(ok):
            order = np.argsort(table[:, j])
            log_scale[j] = np.interp(target[j], table[order, j], STRETCH[order])
    reached = np.array([np.interp(log_scale[j], STRETCH, table[:, j]) if ok[j] else np.nan for j in range(len(unique))])
    scales = log_scale[node_of.reshape(-1)].reshape(rows, cols)
    out = _stretch(grid.double(), torch.from_numpy(scales))
    info = {"log_scales": np.round(scales, 4).tolist(), "edges": int(count.reshape(-1)[unique].sum()),
            "nodes_measured": int(ok.sum()), "nodes": len(unique),
            "cells": {"measured_px2": _rounded(node_measured), "step2_px2": _rounded(start),
                      "reached_px2": _rounded(reached), "edges": count.reshape(-1)[unique].tolist(),
                      "at_limit": (ok & ((log_scale <= STRETCH[0] + 1e-9) | (log_scale >= STRETCH[-1] - 1e-9))).tolist()}}
    return out.to(grid.dtype), info


def _rounded(values: np.ndarray) -> list[float | None]:
    return [round(float(v), 3) if np.isfinite(v) else None for v in values]


AGREE_PX2, AGREE_REL = 0.35, 0.3  # a predicted edge width agrees with the photos' within this (w^2)
AGREE_SHARE = 0.75  # of the measured places, per channel, for the self-check to pass


def agrees(predicted: np.ndarray, measured: np.ndarray, px2: float = AGREE_PX2, rel: float = AGREE_REL) -> np.ndarray:
    """Whether each predicted edge w^2 is within the tolerance of the measured one (False where
    either is missing)."""
    return np.abs(predicted - measured) <= np.maximum(px2, rel * np.abs(measured))


def forward_check(grid: torch.Tensor, edges: list[Edges], crops: torch.Tensor, sigma: tuple[float, ...],
                  mirror: bool, gen: torch.Generator) -> dict:
    """Does the grid, applied to the sharp centre crops, reproduce the sharpest-edge widths the
    blurry photos show near each node, in R, G and B?

    ``edges``: the blurry photos' R, G and B readings (:func:`blurry_edges`); they and ``crops``
    (N, 3, h, w) share units (the crops carry the sets' exposure ratio), ``sigma`` is the blurry
    photos' noise per channel in those units. Returns, per channel, the measured and predicted w^2
    per place (cell), and whether each agrees.
    """
    rows, cols = grid.shape[:2]
    unique = np.unique(_cells(rows, cols, mirror))
    out: dict = {"channels": {}}
    for c, name in enumerate("RGB"):
        threshold, measured = edges[c].threshold, edges[c].measured
        blurrer = _Blurrer(sharp_tiles(crops, gen, channel=c), sigma[c], gen)
        predicted = []
        for r, col in zip(*np.divmod(unique, cols)):
            w2 = blurrer.widths(grid[r, col, c], threshold)
            predicted.append(np.percentile(w2, PERCENTILE) if len(w2) >= MIN_EDGES // 4 else np.nan)
        m, p = measured.reshape(-1)[unique], np.asarray(predicted)
        both = np.isfinite(m) & np.isfinite(p)
        agree = both & agrees(p, m)
        out["channels"][name] = {"measured_px2": _rounded(m), "predicted_px2": _rounded(p),
                                 "agree": agree.tolist(), "places": int(both.sum())}
    return out
