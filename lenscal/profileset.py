"""Profile sets: the profile of every photo of a batch, from a folder of profiles (or the library).

A profile covers one camera + lens at one aperture, focal length and image size. A set is every
valid profile of a folder; for each photo it gives:

- the profile of the photo's camera, lens, focal length and aperture when one was calibrated there
  (within 5% in f-number, as :meth:`LensProfile.mismatches`; 2% in focal length): exactly that
  profile's grid, so the output is the one naming that file would give;
- between the two nearest calibrated apertures (and, for a zoom, focal lengths) the grids mixed by
  the optics of lenscal.optics.mix, with the weight in log f-number (log focal length);
- outside the calibrated range, nothing: :class:`NoProfileError` (the batch skips the photo with
  the reason), or with ``mismatch="warn"`` (``--force``) the nearest calibrated state and a warning;
- a photo of another size than the calibration mapped onto the sensor where it can be (turned, a
  centred crop: lenscal.optics.framing), else skipped with the reason.

:class:`SingleProfile` is one named file, as ``--profile FILE`` has always used it: a mismatch is
refused (``mismatch="refuse"``) or corrected with a warning (``--force``). Both are
:class:`Chooser`\\ s, which the batch asks once per photo; both pickle (worker processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from lenscal.errors import NoProfileError, ProfileError, ProfileMismatchError, SelfCheckError
from lenscal.optics.framing import NoMapping, map_grid, place
from lenscal.optics.mix import log_weight, mix_kernels
from lenscal.photo import Metadata
from lenscal.profile import LensProfile

Mismatch = Literal["refuse", "warn", "ignore"]
APERTURE_TOLERANCE = 0.05  # relative: f/7.1 is not f/8, f/1.7 is f/1.72 (as LensProfile.mismatches)
FOCAL_TOLERANCE = 0.02  # relative


@dataclass(frozen=True)
class Chosen:
    """The PSF grid a photo is corrected with, and what to call it (the output's note, the summary)."""

    grid: np.ndarray
    noise_sigma: float
    label: str
    warnings: tuple[str, ...] = ()


class Chooser(Protocol):
    def choose(self, meta: Metadata, mismatch: Mismatch = "refuse") -> Chosen:
        """The grid for a photo; raises ProfileMismatchError (the photo fails) or NoProfileError
        (the photo is skipped)."""


@dataclass(frozen=True)
class Member:
    """One valid profile of a set."""

    path: Path
    profile: LensProfile

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def f_number(self) -> float | None:
        return self.profile.f_number_blurry

    @property
    def focal_length(self) -> float | None:
        return self.profile.focal_length

    @property
    def frame(self) -> tuple[int, int]:
        return self.profile.image.width, self.profile.image.height

    @property
    def lens_key(self) -> tuple[str, str, str]:
        p = self.profile
        return p.camera.make, p.camera.model, p.lens.model


def refuse_failed_check(profile: LensProfile, label: str, mismatch: Mismatch, warnings: list[str]) -> None:
    """A profile that failed its self-check when it was learned (written with ``learn --force``)
    may make photos worse: refused (SelfCheckError) unless forced, then named in ``warnings``."""
    check = profile.check or {}
    if check.get("status", "passed" if check.get("passed", True) else "failed") != "failed":
        return
    reasons = [str(r) for r in check.get("reasons", [])][:2]
    why = "the profile failed its self-check when it was learned" + (f" ({'; '.join(reasons)})" if reasons else "")
    if mismatch == "refuse":
        raise SelfCheckError(f"{label}: {why}; correcting with it may make photos worse",
                             hint="learn it again (see the shooting guide), or use --force to correct anyway")
    warnings.append(f"{label}: {why}")


def describe_lens(key: tuple[str, str, str]) -> str:
    make, model, lens = key
    return f"{make} {model}".strip() + (f" + {lens}" if lens else "")


def _f(x: float) -> str:
    return f"f/{x:g}"


def _mm(x: float) -> str:
    return f"{x:g} mm"


# -- one file ------------------------------------------------------------------------------------
@dataclass
class SingleProfile:
    """One profile file for every photo: ``--profile FILE``."""

    profile: LensProfile
    name: str
    _grid: np.ndarray | None = field(default=None, repr=False, compare=False)  # the profile's, unless given
    noise_sigma: float | None = None  # the profile's, unless given

    def grid(self) -> np.ndarray:
        if self._grid is None:
            self._grid = self.profile.grid()
        return self._grid

    def choose(self, meta: Metadata, mismatch: Mismatch = "refuse") -> Chosen:
        p = self.profile
        found = p.mismatches(meta, size=False)
        grid, label = self.grid(), self.name
        frame = (p.image.width, p.image.height)
        try:
            where = place(frame, (meta.width, meta.height), meta.raw)
            grid = map_grid(grid, frame, where)
            if not where.identity:
                label = f"{self.name}, {where.describe()}"
        except NoMapping as e:
            found.append(f"size is {meta.width}x{meta.height}, profile is for {frame[0]}x{frame[1]} ({e.why})")
        if found and mismatch == "refuse":
            raise ProfileMismatchError("profile does not match: " + "; ".join(found), hint="use --force to correct anyway")
        refuse_failed_check(p, self.name, mismatch, found)
        sigma = p.noise_sigma if self.noise_sigma is None else self.noise_sigma
        return Chosen(grid, sigma, label, tuple(found) if mismatch == "warn" else ())


# -- a set ---------------------------------------------------------------------------------------
@dataclass
class ProfileSet:
    """Every valid profile of a folder (or the library), in the order given (the first of two
    profiles for the same lens state wins: the user's own before the bundled ones)."""

    members: list[Member]
    where: str  # "FOLDER" or "the library", for messages
    problems: list[tuple[Path, str]] = field(default_factory=list)  # files that are not valid profiles
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_folder(cls, folder: Path) -> "ProfileSet":
        folder = Path(folder)
        if not folder.is_dir():
            raise ProfileError("not a folder of profiles", folder)
        return cls.from_files(sorted(folder.glob("*.json")), str(folder))

    @classmethod
    def from_files(cls, paths: list[Path], where: str) -> "ProfileSet":
        members, problems = [], []
        for path in paths:
            try:
                members.append(Member(path, LensProfile.load(path)))
            except ProfileError as e:
                problems.append((path, e.message))
        return cls(members, where, problems)

    @classmethod
    def from_library(cls) -> "ProfileSet":
        from lenscal.library import list_profiles

        entries = list_profiles()
        return cls([Member(e.path, e.profile) for e in entries if e.profile is not None], "the library",
                   [(e.path, e.problem) for e in entries if e.profile is None])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}

    # -- what it holds ---------------------------------------------------------------------------
    def lenses(self) -> dict[tuple[str, str, str], list[Member]]:
        """Members grouped by (camera make, camera model, lens model), in order."""
        out: dict[tuple[str, str, str], list[Member]] = {}
        for m in self.members:
            out.setdefault(m.lens_key, []).append(m)
        return out

    # -- choosing ----------------------------------------------------------------------------------
    def choose(self, meta: Metadata, mismatch: Mismatch = "refuse") -> Chosen:
        lens = self._lens(meta)
        frame, where, members = self._frame(meta, lens)
        force = mismatch != "refuse"
        warnings: list[str] = []
        parts = [(wf, self._aperture_weights(meta, at, force, warnings))
                 for wf, at in self._focal_weights(meta, members, force, warnings)]
        for _, ap in parts:
            for w, m in ap:
                if w > 0:
                    refuse_failed_check(m.profile, m.name, mismatch, warnings)
        key = (tuple((wf, tuple((w, str(m.path)) for w, m in ap)) for wf, ap in parts), where)
        if key not in self._cache:
            self._cache[key] = self._grid(parts, frame, where)
        grid, sigma = self._cache[key]
        return Chosen(grid, sigma, _label(parts, where), tuple(warnings) if mismatch == "warn" else ())

    def precheck(self, meta: Metadata, mismatch: Mismatch = "refuse") -> None:
        """What :meth:`choose` refuses from the metadata alone, before a photo is developed: no
        profile for its camera and lens, or an aperture or focal length outside every calibrated
        range. The image size is left to :meth:`choose` (the developed photo's size is the one
        that counts)."""
        members = self.lenses()[self._lens(meta)]
        force = mismatch != "refuse"
        for _, at in self._focal_weights(meta, members, force, []):
            self._aperture_weights(meta, at, force, [])

    def _lens(self, meta: Metadata) -> tuple[str, str, str]:
        """The (camera, lens) group of a photo: its camera, and its lens where both say one."""
        keys = [k for k in self.lenses()
                if (not meta.camera or (meta.make, meta.model) == k[:2])
                and (not meta.lens_model or not k[2] or meta.lens_model == k[2])]
        photo = (meta.camera or "an unknown camera") + (f" + {meta.lens_model}" if meta.lens_model else "")
        if not keys:
            raise NoProfileError(f"no profile in {self.where} for {photo}",
                                 hint="learn one with 'lenscal learn', or give another --profile")
        if len(keys) > 1:
            raise NoProfileError(f"{photo} fits profiles of {len(keys)} lenses in {self.where} "
                                 f"({'; '.join(describe_lens(k) for k in keys[:3])}): the photo does not say which",
                                 hint="give --profile the file of its lens")
        return keys[0]

    def _frame(self, meta: Metadata, lens: tuple[str, str, str]):
        """The calibration frame the photo maps onto, how, and the lens's profiles of that frame."""
        members = self.lenses()[lens]
        frames = list(dict.fromkeys(m.frame for m in members))
        frames.sort(key=lambda f: f != (meta.width, meta.height))  # the photo's own size first
        reasons = []
        for frame in frames:
            try:
                where = place(frame, (meta.width, meta.height), meta.raw)
            except NoMapping as e:
                reasons.append(e.why if len(frames) == 1 else str(e))
                continue
            return frame, where, [m for m in members if m.frame == frame]
        sizes = ", ".join(f"{w}x{h}" for w, h in frames)
        raise NoProfileError(f"no profile in {self.where} for {describe_lens(lens)} at this size: photo is "
                             f"{meta.width}x{meta.height}, profiles are for {sizes} ({'; '.join(reasons)})",
                             hint="learn a profile from photos of this size")

    def _focal_weights(self, meta: Metadata, members: list[Member], force: bool,
                       warnings: list[str]) -> list[tuple[float, list[Member]]]:
        """[(weight, the profiles at that focal length)]: one focal length, or the two around the
        photo's (a zoom). A lens calibrated at one focal length (or not saying it) is one level."""
        focals = sorted({m.focal_length for m in members if m.focal_length is not None})
        if len(focals) <= 1:
            return [(1.0, members)]
        x = meta.focal_length
        lens = describe_lens(members[0].lens_key)
        if x is None:
            raise NoProfileError(f"the photo does not say its focal length, and {self.where} has profiles of "
                                 f"{lens} at {', '.join(map(_mm, focals))}",
                                 hint="give --profile the file for its focal length")
        return [(w, [m for m in members if _same(m.focal_length, f, FOCAL_TOLERANCE)])
                for f, w in _bracket(x, focals, FOCAL_TOLERANCE, force, warnings, _mm, "focal length", lens)]

    def _aperture_weights(self, meta: Metadata, members: list[Member], force: bool,
                          warnings: list[str]) -> list[tuple[float, Member]]:
        """[(weight, profile)]: the profile at the photo's aperture, or the two around it."""
        focals = {m.focal_length for m in members if m.focal_length is not None}
        lens = describe_lens(members[0].lens_key) + (f" at {_mm(focals.pop())}" if len(focals) == 1 else "")
        first: dict[float | None, Member] = {}
        for m in members:  # the first profile of each aperture wins
            first.setdefault(m.f_number, m)
        stops = sorted(f for f in first if f is not None)
        if not stops:  # profiles that do not say their aperture: usable only alone
            return [(1.0, first[None])]
        x = meta.f_number
        if x is None:
            if len(stops) == 1:
                return [(1.0, first[stops[0]])]
            raise NoProfileError(f"the photo does not say its aperture, and {self.where} has profiles of "
                                 f"{lens} at {', '.join(map(_f, stops))}",
                                 hint="give --profile the file for its aperture")
        return [(w, first[f]) for f, w in _bracket(x, stops, APERTURE_TOLERANCE, force, warnings, _f,
                                                     "aperture", lens)]

    def _grid(self, parts, frame: tuple[int, int], where) -> tuple[np.ndarray, float]:
        """Mix in aperture at each focal length, then in focal length; then map to the photo."""
        levels = []
        for wf, ap in parts:
            grids = _common([m.profile.grid() for _, m in ap])
            grid, sigma = grids[0], ap[0][1].profile.noise_sigma
            if len(ap) == 2:
                t = ap[1][0]
                grid = mix_kernels(grids[0], grids[1], t)
                sigma = (1 - t) * sigma + t * ap[1][1].profile.noise_sigma
            levels.append((wf, grid, sigma))
        grid, sigma = levels[0][1], levels[0][2]
        if len(levels) == 2:
            t = levels[1][0]
            a, b = _common([grid, levels[1][1]])
            grid = mix_kernels(a, b, t)
            sigma = (1 - t) * sigma + t * levels[1][2]
        try:
            return map_grid(grid, frame, where), float(sigma)
        except NoMapping as e:
            raise NoProfileError(str(e), hint="learn a profile from photos of this size") from e


def _same(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance * b


def _bracket(x: float, values: list[float], tolerance: float, force: bool, warnings: list[str],
             fmt, what: str, lens: str) -> list[tuple[float, float]]:
    """[(value, weight)]: the calibrated value at x, or the two around it with log weights; out
    of range: the nearest with ``force`` (a warning), else NoProfileError."""
    for v in values:
        if abs(x - v) <= tolerance * v:
            return [(v, 1.0)]
    lo, hi = values[0], values[-1]
    if x < lo or x > hi:
        nearest = lo if x < lo else hi
        span = (fmt(lo) if lo == hi else f"{lo:g}-{fmt(hi)}" if what == "focal length" else f"{fmt(lo)}-{fmt(hi)}")
        if not force:
            raise NoProfileError(f"{what} {fmt(x)} is outside the calibrated {span} of {lens}",
                                 hint=f"learn a profile at {fmt(x)}, or --force to use the nearest, {fmt(nearest)}")
        warnings.append(f"{what} {fmt(x)} is outside the calibrated {span}: corrected with the nearest, {fmt(nearest)}")
        return [(nearest, 1.0)]
    i = next(i for i in range(len(values) - 1) if values[i] < x < values[i + 1])
    t = log_weight(values[i], values[i + 1], x)
    return [(values[i], 1 - t), (values[i + 1], t)]


def _common(grids: list[np.ndarray]) -> list[np.ndarray]:
    """Grids brought to one node layout and kernel size (the larger of each), so they can mix."""
    from lenscal.optics.psf import resample

    if len({g.shape for g in grids}) == 1:
        return grids
    rows = max(g.shape[0] for g in grids)
    cols = max(g.shape[1] for g in grids)
    k = max(g.shape[-1] for g in grids)
    out = []
    for g in grids:
        pad = (k - g.shape[-1]) // 2
        g = np.pad(g, [(0, 0)] * 3 + [(pad, pad), (pad, pad)])
        out.append(resample(g, rows, cols).numpy().astype(np.float32))
    return out


def _label(parts, where) -> str:
    """What a photo was corrected with: one file's name, or the mix ("f/8-f/16 (f8.json, f16.json)")."""
    members = [m for _, ap in parts for _, m in ap]
    if len(members) == 1:
        label = members[0].name
    else:
        stops = sorted({m.f_number for m in members if m.f_number})
        focals = sorted({m.focal_length for m in members if m.focal_length})
        span = [f"{_f(stops[0])}-{_f(stops[-1])}" if len(stops) > 1 else "",
                f"{focals[0]:g}-{focals[-1]:g} mm" if len(parts) > 1 else ""]
        label = f"interpolated {', '.join(s for s in span if s)} ({', '.join(m.name for m in members)})"
    return label if where.identity else f"{label}, {where.describe()}"


def lens_summary(found: ProfileSet) -> list[dict]:
    """One row per (camera, lens) of a set: its calibrated apertures, focal lengths and sizes,
    and where its profiles are (``lenscal profiles list``)."""
    rows = []
    for key, members in found.lenses().items():
        rows.append({
            "camera": f"{key[0]} {key[1]}".strip(), "lens": key[2],
            "apertures": sorted({m.f_number for m in members if m.f_number}),
            "focal_lengths": sorted({m.focal_length for m in members if m.focal_length}),
            "sizes": list(dict.fromkeys(f"{m.frame[0]}x{m.frame[1]}" for m in members)),
            "folders": list(dict.fromkeys(str(m.path.parent) for m in members)),
            "profiles": [m.name for m in members],
        })
    return rows


def load_chooser(profile: Path | None) -> SingleProfile | ProfileSet:
    """``--profile``: a file (one profile for every photo, as ever), a folder (a profile set), a
    library name (that file), or nothing (the library as a set)."""
    from lenscal.library import resolve

    if profile is None:
        return ProfileSet.from_library()
    if Path(profile).is_dir():
        found = ProfileSet.from_folder(Path(profile))
        if not found.members:
            why = f" ({found.problems[0][0].name}: {found.problems[0][1]})" if found.problems else ""
            raise ProfileError(f"no valid lens profile in this folder{why}", profile,
                               "give a folder that 'lenscal learn' wrote, or a profile file")
        return found
    path = resolve(profile)
    return SingleProfile(LensProfile.load(path), path.name)


__all__ = ["Chosen", "Chooser", "Member", "ProfileSet", "SingleProfile", "load_chooser", "describe_lens", "lens_summary",
           "APERTURE_TOLERANCE", "FOCAL_TOLERANCE"]
