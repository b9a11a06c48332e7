"""Which torch device the work runs on: one choice for learn, correct and a cluster's workers.

``auto`` takes CUDA, else MPS (Apple), else the CPU; a named device (``cpu``, ``cuda``, ``mps``,
with an index as torch writes it: ``cuda:1``) must be present on this machine.
"""

from __future__ import annotations

from lenscal.errors import LenscalError

KINDS = ("cpu", "cuda", "mps")


def check_name(name: str) -> str:
    """``name`` if it names a device (``auto`` or one of :data:`KINDS`), without looking for it
    on this machine (a cluster's client: each worker picks its own); LenscalError otherwise."""
    kind, colon, index = name.partition(":")
    if name != "auto" and (kind not in KINDS or (colon and not index.isdigit())):
        raise LenscalError(f"unknown device '{name}'", hint="use cpu, cuda, mps or auto")
    return name


def _mps_available(torch) -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name: str) -> str:
    """The device to run on, as a torch device string: ``auto`` resolved on this machine, a named
    one checked to be present (LenscalError, one line, when it is not)."""
    import torch

    check_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    kind = name.partition(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise LenscalError("CUDA is not available on this machine", hint="use --device cpu or auto")
    if kind == "mps" and not _mps_available(torch):
        raise LenscalError("MPS is not available on this machine", hint="use --device cpu or auto")
    return name
