"""A batch on a Dask cluster (``lenscal correct ... --scheduler tcp://HOST:8786``).

Dask's distributed scheduler (``pip install lenscal[cluster]``) runs the per-photo work, one task
a photo, on whatever workers its scheduler has: processes on this machine, other machines, a GPU
server. The rules of a local batch (lenscal.correct.batch) hold unchanged, because the work on a
worker is the local batch's own :func:`correct_photo` and everything that touches the client's
files stays on the client:

- the client plans the outputs (io.outputs' one naming rule), skips the finished ones and refuses
  foreign files before anything is sent, and checks a profile set's choice from the metadata;
- a task gets the photo's bytes (scattered to a worker's memory, never through the scheduler) and
  the file name, corrects it in a temporary folder of the worker
  and returns the encoded outputs (TIFF/DNG/preview bytes); the client writes them atomically
  where it was asked to, re-checking each target just before. So no folder needs to be shared
  between the machines, the outputs are the bytes a local run writes, an interrupted batch leaves
  only whole files and resumes by skipping them, and a worker never writes into the client's
  folders (whose permissions and paths it may not even have);
- at most a few tasks are in flight (the workers' threads plus two): a 24 MP 16-bit TIFF is about
  145 MB, and results are written and dropped as they arrive, so the client holds a bounded
  number of photos, whatever the batch's size;
- before any work, every worker runs a tiny probe that returns its lenscal version: a worker
  without lenscal, or with another version than the client's, is refused with one line (the same
  profile could otherwise give other pixels); an unreachable scheduler is one line after a short
  timeout (exit code 2).
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path

from lenscal.correct.batch import (BatchSummary, CorrectOptions, FileResult, _precheck, as_chooser,
                                   correct_photo, output_plan)
from lenscal.errors import EXIT_FAILED, EXIT_USAGE, LenscalError, NoProfileError
from lenscal.io.outputs import check_target, prepare_folder
from lenscal.progress import Progress

CONNECT_TIMEOUT_S = 10.0
INSTALL_HINT = "install it with: pip install 'lenscal[cluster]'"


class ClusterError(LenscalError):
    """The scheduler cannot be reached, or its workers cannot run this lenscal."""

    exit_code = EXIT_USAGE


def _distributed():
    try:
        import distributed
    except ImportError as e:
        raise ClusterError("--scheduler needs Dask's distributed scheduler, which is not installed",
                           hint=INSTALL_HINT) from e
    return distributed


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A client of the scheduler at ``address``, or one line saying why not."""
    distributed = _distributed()
    logging.getLogger("distributed").setLevel(logging.ERROR)  # lenscal says what matters, in one line
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s", hint=(
            "check the address, and that 'dask scheduler' runs there and its port is open")) from e


def probe_workers(client) -> dict[str, dict]:
    """{worker address: {"version": lenscal's version or None, "cores": CPUs, "host": name}}.

    The probe is defined here, inside the function, so that it travels by value: a worker without
    lenscal can run it (and say so) instead of failing to import it.
    """
    def probe():
        import os as _os
        import socket

        try:
            import lenscal
            version = lenscal.__version__
        except Exception:  # not installed, or broken: the worker cannot run the work
            version = None
        return {"version": version, "cores": _os.cpu_count() or 1, "host": socket.gethostname()}

    return client.run(probe)


def version_problems(found: dict[str, dict], mine: str) -> str | None:
    """What is wrong with the workers for this client (one line), or None when all can work."""
    if not found:
        return "the scheduler has no workers"
    missing = sorted(addr for addr, info in found.items() if info.get("version") is None)
    if missing:
        return f"{len(missing)} worker(s) have no lenscal installed ({missing[0]}{', ...' if len(missing) > 1 else ''})"
    other = sorted((addr, info["version"]) for addr, info in found.items() if info["version"] != mine)
    if other:
        return (f"{len(other)} worker(s) run another lenscal version than this one ({mine}): "
                f"{other[0][0]} has {other[0][1]}")
    return None


def _threads(found: dict[str, dict], workers: dict[str, dict]) -> dict[str, int]:
    """Torch threads for a task on each worker: the host's cores shared by all its Dask threads."""
    per_host = Counter()
    for addr, w in workers.items():
        per_host[found.get(addr, {}).get("host", addr)] += int(w.get("nthreads", 1))
    return {addr: max(1, int(found[addr]["cores"]) // per_host[found[addr]["host"]]) for addr in found}


def run_remote(name: str, data: bytes, display: str, output_names: tuple[str, ...], chooser, options: CorrectOptions,
               threads: dict[str, int]) -> dict:
    """The task: one photo corrected on a worker, in a temporary folder, by the local batch's own
    correct_photo; returns its result and the encoded outputs (bytes, in ``output_names``' order)."""
    import torch

    try:
        from distributed import get_worker

        torch.set_num_threads(threads.get(get_worker().address, 1))
    except (ImportError, ValueError):  # not on a worker (called directly)
        pass
    if options.device == "auto":  # this worker's own devices
        from dataclasses import replace

        from lenscal.devices import pick_device

        options = replace(options, device=pick_device("auto"))
    with tempfile.TemporaryDirectory(prefix="lenscal-") as tmp:
        source = Path(tmp) / name
        source.write_bytes(data)
        del data
        outputs = tuple(Path(tmp) / "out" / n for n in output_names)
        outputs[0].parent.mkdir()
        r = correct_photo(source, outputs, chooser, options)
        files = [o.read_bytes() for o in outputs] if r.status == "done" else []
    return {"status": r.status, "reason": r.reason.replace(str(source), display), "warnings": r.warnings,
            "exit_code": r.exit_code, "profile": r.profile, "files": files}


def correct_on_cluster(inputs: list[Path], profile, out_dir: Path | None, *, scheduler: str,
                       options: CorrectOptions = CorrectOptions(), progress: Progress | None = None,
                       connect_timeout: float = CONNECT_TIMEOUT_S) -> BatchSummary:
    """Correct every photo of ``inputs`` on the cluster at ``scheduler``: the same results, files
    and rules as :func:`lenscal.correct.batch.correct_files` (module docstring)."""
    from lenscal import __version__

    distributed = _distributed()
    sources = [Path(p) for p in inputs]
    chooser = as_chooser(profile, options)
    plan = output_plan(sources, out_dir, options)
    unusable: dict[Path, LenscalError] = {}
    for folder in dict.fromkeys(o.parent for outs in plan.values() for o in outs):
        try:
            prepare_folder(folder)
        except LenscalError as e:  # no photo can be written there
            unusable[folder] = e
    todo: dict[Path, tuple[Path, ...]] = {}
    results: dict[Path, FileResult | None] = {
        s: _plan_one(s, plan[s], chooser, options, todo, unusable) for s in sources}
    queue = [s for s in sources if results[s] is None]
    total = len(sources)
    if not queue:  # nothing to send: no need for the cluster (nor to reach it)
        return BatchSummary([results[s] for s in sources])
    client = connect(scheduler, connect_timeout)
    try:
        threads = _check_workers(client, scheduler, __version__, connect_timeout)
        if progress:
            progress("correcting", total - len(queue), total, {})
        remote_chooser = client.scatter(chooser, broadcast=True)
        limit = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values()) + 2
        running = distributed.as_completed(loop=client.loop)
        futures: dict = {}

        def feed() -> None:
            while queue and running.count() < limit:
                s = queue.pop(0)
                try:
                    data = s.read_bytes()
                except OSError as e:
                    results[s] = FileResult(s, "failed", plan[s], f"{s}: cannot read file: {e.strerror or e}",
                                            exit_code=EXIT_USAGE)
                    continue
                # the photo goes to a worker's memory, not into the task (which the scheduler holds)
                remote_data = client.scatter(data, hash=False)
                del data
                fut = client.submit(run_remote, s.name, remote_data, str(s), tuple(o.name for o in plan[s]),
                                    remote_chooser, options, threads, pure=False)
                futures[fut] = s
                running.add(fut)

        try:
            feed()
            for fut in running:
                s = futures.pop(fut)
                results[s] = _write_back(s, fut, todo[s], plan[s], options)
                fut.release()
                if progress:
                    progress("correcting", sum(r is not None for r in results.values()), total, {"file": s.name})
                feed()
        except KeyboardInterrupt:  # Ctrl-C: drop the queued and running tasks; written files are whole
            client.cancel(list(futures))
            raise
    finally:
        client.close()
    return BatchSummary([results[s] for s in sources])


def _check_workers(client, scheduler: str, version: str, timeout: float) -> dict[str, int]:
    """Wait briefly for a worker, refuse workers that cannot run this lenscal; torch threads per worker."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError) as e:
        raise ClusterError(f"{scheduler}: the scheduler has no workers (waited {timeout:g} s)",
                           hint="start some with 'dask worker " + scheduler + "'") from e
    found = probe_workers(client)
    problem = version_problems(found, version)
    if problem:
        raise ClusterError(f"{scheduler}: {problem}",
                           hint=f"install lenscal {version} on every worker: pip install 'lenscal[cluster]=={version}'")
    return _threads(found, client.scheduler_info()["workers"])


def _plan_one(source: Path, outputs: tuple[Path, ...], chooser, options: CorrectOptions,
              todo: dict[Path, tuple[Path, ...]], unusable: dict[Path, LenscalError]) -> FileResult | None:
    """A photo's result when the client can decide it (finished already, a foreign file in the way,
    an output folder that cannot be, no profile for it), else None with its outputs to write in
    ``todo``: what correct_photo decides before developing, decided before sending."""
    try:
        for o in outputs:
            if o.parent in unusable:
                raise unusable[o.parent]
        todo[source] = tuple(o for o in outputs if check_target(o, options.overwrite))
        if not todo[source]:
            return FileResult(source, "skipped", outputs, "already corrected (use --overwrite to redo)")
        _precheck(source, chooser, options)
    except NoProfileError as e:
        return FileResult(source, "skipped", outputs, e.one_line(), exit_code=e.exit_code)
    except LenscalError as e:
        return FileResult(source, "failed", outputs, e.one_line(), exit_code=e.exit_code)
    return None


def _write_back(source: Path, fut, targets: tuple[Path, ...], outputs: tuple[Path, ...],
                options: CorrectOptions) -> FileResult:
    """A finished task's outputs, written atomically where the client asked (those still to do,
    each checked again just before: a file that appeared meanwhile is never replaced unless it is
    lenscal's and --overwrite was given); a task that raised or a worker that died: a failed photo."""
    from lenscal.io.atomic import write_bytes_atomic

    try:
        r = fut.result()
    except Exception as e:  # the worker died, or the task could not run there
        why = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        return FileResult(source, "failed", outputs, f"{source}: worker error: {why}", exit_code=EXIT_FAILED)
    if r["status"] != "done":
        return FileResult(source, r["status"], outputs, r["reason"], tuple(r["warnings"]), r["exit_code"], r["profile"])
    try:
        for target, data in zip(outputs, r["files"]):
            if target in targets and check_target(target, options.overwrite):
                write_bytes_atomic(target, data, overwrite=options.overwrite)
    except LenscalError as e:
        return FileResult(source, "failed", outputs, e.one_line(), exit_code=e.exit_code)
    return FileResult(source, "done", outputs, warnings=tuple(r["warnings"]), profile=r["profile"])


__all__ = ["ClusterError", "connect", "correct_on_cluster", "probe_workers", "run_remote", "version_problems"]
