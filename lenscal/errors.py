"""Errors a user can act on.

Every failure the user can fix is a :class:`LenscalError`: the CLI prints its one-line message
(what went wrong, on which file, and how to fix it) and exits with the class's code, without a
traceback unless ``--debug``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path

# Documented exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # a batch finished but some photos failed
EXIT_USAGE = 2  # bad arguments or bad input files
EXIT_MISMATCH = 3  # profile does not match the photo (use --force)
EXIT_DISK = 4  # could not write output (disk full, permissions)
EXIT_CHECK = 5  # a learned profile failed its self-check and was not written (use --force)
EXIT_NO_PROFILE = 6  # some photos had no profile in the profile set (skipped; the rest corrected)
EXIT_INTERRUPTED = 130  # Ctrl-C; the work done so far is kept and resumable


class LenscalError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, path: str | Path | None = None, hint: str | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.path}: " if self.path is not None else ""
        fix = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{fix}".replace("\n", " ")


class UnreadableFileError(LenscalError):
    """A file is missing, empty, truncated, corrupt or of an unsupported kind."""


class ShootError(LenscalError):
    """A set of photos cannot be used together (empty, mixed cameras, too few...)."""


class ProfileError(LenscalError):
    """A lens profile is malformed or invalid."""


class ProfileMismatchError(LenscalError):
    """A profile was made for another camera, lens, size or aperture."""

    exit_code = EXIT_MISMATCH


class NoProfileError(LenscalError):
    """A profile set holds no profile for a photo (camera, lens, size, or an aperture or focal
    length outside the calibrated range): the photo is skipped, the batch goes on."""

    exit_code = EXIT_NO_PROFILE


class OutputError(LenscalError):
    """An output cannot be written (disk full, no permission, would overwrite)."""

    exit_code = EXIT_DISK


class SelfCheckError(LenscalError):
    """A learned profile does not reproduce the photos it was learned from: not written."""

    exit_code = EXIT_CHECK
