"""Atomic writes: an output either appears whole or not at all.

Data goes to a hidden temporary file in the destination folder (same filesystem), is flushed to
disk, then renamed over the final name in one step. A crash, Ctrl-C, SIGTERM or a full disk leaves
no half-written output behind: the temporary file is removed on the way out, and every live one is
listed in :data:`_PENDING` so that a signal handler can remove them (:func:`remove_pending`).
SIGKILL cannot be caught: its temporary files carry the dead writer's process id in their name
(``.NAME.PID.XXXXXXXX.part``) and are removed by the next write into that folder
(:func:`remove_stale_parts`), while those of a live writer (another lenscal run) are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lenscal.errors import OutputError

_PENDING: set[Path] = set()  # temporary files being written by this process
_PART = re.compile(r"\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}\.part")  # tempfile's 8-char names


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 16 * 2**20
    except OSError:
        return False


def explain(e: OSError, path: Path) -> OutputError:
    """An OSError met while writing ``path`` as a one-line :class:`OutputError`."""
    # some writers (numpy's tofile under tifffile) report a short write without errno ENOSPC
    if e.errno == errno.ENOSPC or (e.errno is None and _disk_nearly_full(path.parent)):
        return OutputError("disk full, nothing was written", path, "free some space and run again")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError("no permission to write here", path, "choose another output folder with -o")
    if e.errno == errno.ELOOP:
        return OutputError("the path goes through a loop of symbolic links", path, "choose another output folder with -o")
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        return OutputError("a file stands where a folder is needed", path, "choose another output folder with -o")
    if e.errno == errno.ENAMETOOLONG:
        return OutputError("the file name is too long", path, "choose a shorter name or folder")
    return OutputError(f"cannot write: {e.strerror or e}", path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's live process (or an absurd number: not ours to judge)
    return True


def remove_stale_parts(folder: Path, name: str | None = None) -> int:
    """Remove temporary files left in ``folder`` by killed lenscal runs (of ``name`` only, if given).

    Returns how many were removed. Those of a live process are kept: it may be writing them now.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _PART.fullmatch(entry.name)
        if not m or (name is not None and m["name"] != name):
            continue
        if m["pid"] is not None and _alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
    return removed


def remove_pending() -> None:
    """Remove every temporary file this process is writing (from a signal handler: no raising)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _PENDING.clear()


@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``."""
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise OutputError("exists already, not overwritten", path, "use --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path.parent, path.name)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
        tmp = Path(tmp_name)
        _PENDING.add(tmp)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; outputs get normal permissions
    except OSError as e:
        raise explain(e, path) from e
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise explain(e, path) from e
    finally:
        _PENDING.discard(tmp)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
