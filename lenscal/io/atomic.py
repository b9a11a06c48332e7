"""Atomic writes: an output either appears whole or not at all.

Data goes to a hidden temporary file in the destination folder (same filesystem), is flushed to
disk, then renamed over the final name in one step. A crash, Ctrl-C or a full disk leaves no
half-written output behind, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lenscal.errors import OutputError


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 16 * 2**20
    except OSError:
        return False


def _explain(e: OSError, path: Path) -> OutputError:
    # some writers (numpy's tofile under tifffile) report a short write without errno ENOSPC
    if e.errno == errno.ENOSPC or (e.errno is None and _disk_nearly_full(path.parent)):
        return OutputError("disk full, nothing was written", path, "free some space and run again")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError("no permission to write here", path, "choose another output folder with -o")
    return OutputError(f"cannot write: {e.strerror or e}", path)


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError("exists already, not overwritten", path, "use --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(glob.escape(f".{path.name}.") + "*.part"):  # left by a killed earlier run
            stale.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; outputs get normal permissions
    except OSError as e:
        raise _explain(e, path) from e
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise _explain(e, path) from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
