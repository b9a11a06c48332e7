"""Correct many photos: develop, check the profile, deconvolve, write; resumable and isolated.

Rules (each one tested on real files in tests/correct/test_batch.py and tests/test_bad_inputs.py):
- outputs are named by io.outputs.plan_outputs: never an input, never one name for two inputs;
  an existing file there is replaced only when lenscal wrote it and ``overwrite`` is given, and
  anything else is never touched (that photo fails, exit code 4);
- outputs are written atomically, so an existing output is a finished one: re-running the same
  command skips it and an interrupted shoot resumes where it stopped;
- one photo failing (corrupt file, profile mismatch, disk error) never stops the others; each
  photo gets a result (done / skipped / failed with the one-line reason);
- each photo gets its own profile (lenscal.profileset): one file for all (``--profile FILE``, a
  mismatch refused unless forced), or a profile set's pick for its camera, lens, focal length,
  aperture and size; a photo the set has no profile for is skipped with the reason (exit code 6
  when nothing failed), before it is developed where its metadata already tells;
- ``jobs`` > 1 runs photos in worker processes started with ``spawn`` (never ``fork``: torch and
  OpenMP threads do not survive a fork), each worker with its share of the CPU threads. Workers
  ignore Ctrl-C (the terminal sends it to them too); the parent stops them with SIGTERM, on which
  each removes its half-written file and exits quietly.
The CLI turns the :class:`BatchSummary` into messages and an exit code.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from lenscal.develop import DevelopSettings, load_camera_photo, load_photo
from lenscal.errors import EXIT_FAILED, EXIT_OK, LenscalError, NoProfileError
from lenscal.io.formats import IMAGE_EXTENSIONS
from lenscal.io.outputs import check_target, made_by, plan_outputs, prepare_folder
from lenscal.io.shoot import expand_inputs
from lenscal.profile import LensProfile
from lenscal.profileset import Chooser, SingleProfile
from lenscal.progress import Progress
TAG = "_corrected"


@dataclass(frozen=True)
class CorrectOptions:
    """What ``lenscal correct`` was asked to do (all picklable, sent to worker processes)."""

    develop: DevelopSettings = DevelopSettings()
    strength: float = 1.0
    linear: bool = False  # TIFF: write linear values (no sRGB curve; the linear sRGB ICC profile)
    format: Literal["tiff", "dng"] = "tiff"  # dng: a linear DNG in camera colour, for raw editors
    compress: Literal["none", "deflate"] = "none"  # TIFF strips
    preview: str | None = None  # "png" or "jpg": also write an 8-bit preview
    overwrite: bool = False
    # a profile made for another camera/lens/... (one file), or a photo outside a profile set's
    # calibrated apertures and focal lengths: refused, or corrected (the nearest) with a warning
    mismatch: Literal["refuse", "warn", "ignore"] = "refuse"
    profile_name: str = ""  # named in each output's note when one LensProfile is given
    device: str = "cpu"
    threads: int | None = None  # torch threads per photo; None = the CPU cores / jobs
    solver: dict = field(default_factory=dict)  # SolverOptions fields


@dataclass(frozen=True)
class FileResult:
    source: Path
    status: Literal["done", "skipped", "failed"]
    outputs: tuple[Path, ...] = ()
    reason: str = ""  # one line: why skipped or failed
    warnings: tuple[str, ...] = ()
    exit_code: int = EXIT_OK  # of the error, for a failure; EXIT_NO_PROFILE for a photo without a profile
    profile: str = ""  # what it was corrected with: a profile's file name, or "interpolated f/8-f/16 (...)"


@dataclass
class BatchSummary:
    results: list[FileResult] = field(default_factory=list)

    def of(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[FileResult]:
        return self.of("done")

    @property
    def skipped(self) -> list[FileResult]:
        return self.of("skipped")

    @property
    def failed(self) -> list[FileResult]:
        return self.of("failed")

    @property
    def exit_code(self) -> int:
        """README "Exit codes": 0 when nothing failed and no photo lacked a profile; when every
        failure has the same cause, that cause's code (2 unreadable input, 3 profile mismatch, 4
        cannot write, 6 no profile in the set: skipped); mixed causes: 1. Photos skipped because
        they were corrected already count as success."""
        codes = {r.exit_code for r in self.failed} | {r.exit_code for r in self.skipped if r.exit_code != EXIT_OK}
        if not codes:
            return EXIT_OK
        return codes.pop() if len(codes) == 1 else EXIT_FAILED


# -- names -------------------------------------------------------------------------------------
def output_plan(sources: list[Path], out_dir: Path | None, options: CorrectOptions) -> dict[Path, tuple[Path, ...]]:
    """The TIFF or DNG (and preview) of every source (io.outputs.plan_outputs: never an input, unique)."""
    main = ".dng" if options.format == "dng" else ".tif"
    exts = (main,) + ((f".{options.preview.lower().lstrip('.')}",) if options.preview else ())
    return plan_outputs(sources, out_dir, TAG, exts)


def expand_photos(inputs: list[str | Path], on_pattern=None) -> list[Path]:
    """Folders (not recursive), glob patterns and files -> sorted unique photo paths.

    lenscal's own corrected photos (``*_corrected.*`` images and DNGs, or any image whose note
    says ``correct`` or ``preview`` wrote it) found in folders or patterns are left out, so
    correcting a folder twice in place does not correct the corrected photos. Explicitly named
    files are kept as given (a missing one then fails with its reason).
    """
    return expand_inputs(inputs, skip=_is_output, on_pattern=on_pattern)


def _is_output(path: Path) -> bool:
    if path.suffix.lower() not in IMAGE_EXTENSIONS | {".dng"}:
        return False
    return path.stem.endswith(TAG) or made_by(path) in ("correct", "preview")


def profile_mismatches(sources: list[Path], profile: LensProfile) -> dict[Path, list[str]]:
    """Pre-flight for the CLI: what differs between the profile and each photo (metadata only)."""
    from lenscal.io.metadata import read_metadata

    out: dict[Path, list[str]] = {}
    for s in sources:
        try:
            found = profile.mismatches(read_metadata(s))
        except LenscalError:
            continue  # unreadable files fail with their own reason later
        if found:
            out[s] = found
    return out


# -- one photo ---------------------------------------------------------------------------------
def correct_one(source: Path, outputs: tuple[Path, ...], grid: np.ndarray, noise_sigma: float,
                profile: LensProfile, options: CorrectOptions, progress: Progress | None = None) -> FileResult:
    """One photo with one profile's ``grid`` (the interface of earlier versions; see :func:`correct_photo`)."""
    name = options.profile_name or profile.provenance or "lens profile"
    chooser = SingleProfile(profile, name, _grid=np.asarray(grid), noise_sigma=noise_sigma)
    return correct_photo(source, outputs, chooser, options, progress)


def correct_photo(source: Path, outputs: tuple[Path, ...], chooser: Chooser, options: CorrectOptions,
                  progress: Progress | None = None) -> FileResult:
    """Develop, pick the profile, deconvolve and write one photo; every user-fixable problem -> a
    failed result, a photo without a profile in the set -> a skipped one (with the reason)."""
    from lenscal.correct.deconv import deconvolve
    from lenscal.io.dng import write_linear_dng
    from lenscal.io.images import write_preview, write_tiff

    try:
        todo = [p for p in outputs if check_target(p, options.overwrite)]
        if not todo:
            return FileResult(source, "skipped", outputs, "already corrected (use --overwrite to redo)")
        _precheck(source, chooser, options)
        colour = None
        if options.format == "dng":
            photo, _, colour = load_camera_photo(source, options.develop)
        else:
            photo, _ = load_photo(source, options.develop)
        chosen = _choose(source, chooser, photo.meta, options)
        outside = None
        if colour is not None:  # colours outside sRGB (< 0 in the working space) are kept as they are
            outside = np.minimum(photo.pixels, 0)
            np.maximum(photo.pixels, 0, out=photo.pixels)
        sharp = deconvolve(photo.pixels, chosen.grid, chosen.noise_sigma, strength=options.strength,
                           device=options.device, progress=progress, **options.solver)
        photo.pixels = sharp  # let the uncorrected pixels go (peak memory on 24 MP)
        note = {"command": "correct", "profile": chosen.label, "strength": options.strength,
                "corrected_from": source.name}
        for target in todo:
            if target.suffix.lower() in (".tif", ".tiff"):
                write_tiff(target, sharp, photo.meta, linear_output=options.linear, note=note,
                           overwrite=options.overwrite, source=source, compress=options.compress)
            elif target.suffix.lower() == ".dng":
                camera = colour.to_camera(sharp + outside)
                write_linear_dng(target, camera, photo.meta, colour, source=source, note=note,
                                 overwrite=options.overwrite)
                del camera
            else:
                write_preview(target, sharp, overwrite=options.overwrite, note={"corrected_from": source.name})
        return FileResult(source, "done", outputs, warnings=chosen.warnings, profile=chosen.label)
    except NoProfileError as e:
        return FileResult(source, "skipped", outputs, e.one_line(), exit_code=e.exit_code)
    except LenscalError as e:
        return FileResult(source, "failed", outputs, e.one_line(), exit_code=e.exit_code)
    except MemoryError:
        return FileResult(source, "failed", outputs, f"{source}: out of memory (try --jobs 1)", exit_code=EXIT_FAILED)


def _precheck(source: Path, chooser: Chooser, options: CorrectOptions) -> None:
    """A profile set refuses a photo from its metadata before it is developed, where it can."""
    from lenscal.io.metadata import read_metadata

    precheck = getattr(chooser, "precheck", None)
    if precheck is None:
        return
    try:
        meta = read_metadata(source)
    except LenscalError:
        return  # developing it says what is wrong with the file
    try:
        precheck(meta, options.mismatch)
    except LenscalError as e:
        raise type(e)(e.message, source, e.hint) from e


def _choose(source: Path, chooser: Chooser, meta, options: CorrectOptions):
    try:
        return chooser.choose(meta, options.mismatch)
    except LenscalError as e:  # the chooser does not know the file: name it
        raise type(e)(e.message, source, e.hint) from e


def _worker_init(threads: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _worker_terminated)
    torch.set_num_threads(threads)


def _worker_terminated(signum, frame) -> None:
    """SIGTERM from the parent (Ctrl-C, or the batch itself terminated): remove the half-written
    output and leave at once, without a traceback."""
    from lenscal.io.atomic import remove_pending

    remove_pending()
    os._exit(128 + signum)


def _worker(source: Path, outputs: tuple[Path, ...], chooser: Chooser, options: CorrectOptions) -> FileResult:
    try:
        return correct_photo(source, outputs, chooser, options)
    except Exception as e:  # a bug in one photo must not take the batch down; keep its reason
        return FileResult(source, "failed", outputs, f"{source}: internal error: {type(e).__name__}: {e}",
                          exit_code=EXIT_FAILED)


# -- many photos -------------------------------------------------------------------------------
def as_chooser(profile: LensProfile | Chooser, options: CorrectOptions) -> Chooser:
    """A LensProfile is one profile for every photo, named in the notes by ``options.profile_name``."""
    if isinstance(profile, LensProfile):
        return SingleProfile(profile, options.profile_name or profile.provenance or "lens profile")
    return profile


def correct_files(inputs: list[Path], profile: LensProfile | Chooser, out_dir: Path | None, *,
                  options: CorrectOptions = CorrectOptions(), jobs: int = 1,
                  progress: Progress | None = None) -> BatchSummary:
    """Correct every photo in ``inputs`` (already expanded, see :func:`expand_photos`) with one
    profile, or each with its own from a profile set (lenscal.profileset).

    Results come back in input order. Progress: ``("correcting", done, total, {"file": name})``
    per photo, and with ``jobs == 1`` also the per-tile ``"deconvolving"`` stage.
    """
    import torch

    sources = [Path(p) for p in inputs]
    chooser = as_chooser(profile, options)
    plan = output_plan(sources, out_dir, options)
    total = len(sources)
    results: dict[Path, FileResult] = {}
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs, len(sources) or 1))
    threads = options.threads or max(1, cores // jobs)
    for folder in dict.fromkeys(o.parent for outs in plan.values() for o in outs):
        try:
            prepare_folder(folder)
        except LenscalError as e:  # no photo can be written there
            for s in sources:
                if s not in results and any(o.parent == folder for o in plan[s]):
                    results[s] = FileResult(s, "failed", plan[s], e.one_line(), exit_code=e.exit_code)
    pending = [s for s in sources if s not in results]
    if progress:
        progress("correcting", len(results), total, {})
    if jobs == 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for s in pending:
                try:
                    results[s] = correct_photo(s, plan[s], chooser, options, progress)
                except Exception as e:
                    results[s] = FileResult(s, "failed", plan[s], f"{s}: internal error: {type(e).__name__}: {e}",
                                            exit_code=EXIT_FAILED)
                if progress:
                    progress("correcting", len(results), total, {"file": s.name})
        finally:
            torch.set_num_threads(previous)
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                    initargs=(threads,)) as pool:
            with _sigint_ignored():  # workers are born ignoring Ctrl-C (before their initializer runs)
                futures = {pool.submit(_worker, s, plan[s], chooser, options): s for s in pending}
            try:
                finished = cf.as_completed(futures)
                _collect(finished, futures, plan, results, total, progress)
            except KeyboardInterrupt:  # Ctrl-C: drop queued photos; finished outputs stay (atomic)
                _terminate_workers(pool)
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return BatchSummary([results[s] for s in sources])


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes are started: they inherit it, so a Ctrl-C during their
    start-up (torch's import takes seconds) cannot print a traceback from them."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield  # starting the processes takes milliseconds; a Ctrl-C in them is not seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _terminate_workers(pool: cf.ProcessPoolExecutor) -> None:
    """SIGTERM every worker (each removes its half-written output, see _worker_terminated).
    The executor has no public way to stop running work, hence its process table."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


def _collect(finished, futures: dict, plan: dict, results: dict, total: int, progress: Progress | None) -> None:
    """Record worker results as they finish."""
    for fut in finished:
        s = futures[fut]
        try:
            results[s] = fut.result()
        except Exception as e:  # the worker process itself died (e.g. killed for memory)
            results[s] = FileResult(s, "failed", plan[s], f"{s}: worker died: {type(e).__name__}",
                                    exit_code=EXIT_FAILED)
        if progress:
            progress("correcting", len(results), total, {"file": s.name})


__all__ = ["CorrectOptions", "FileResult", "BatchSummary", "as_chooser", "correct_files", "correct_one",
           "correct_photo", "expand_photos", "output_plan", "profile_mismatches"]
