"""A batch on a Dask cluster: a real LocalCluster of two worker processes (one thread each), driven
through ``lenscal correct --scheduler`` as a user would; real DNGs in, outputs read back through
the real readers and compared with a local run's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="dask's distributed scheduler is not installed "
                                                        "(pip install 'lenscal[cluster]')")

from conftest import make_dng, run_cli, tree_hashes  # noqa: E402
from lenscal import __version__  # noqa: E402
from lenscal.correct.cluster import ClusterError, correct_on_cluster, version_problems  # noqa: E402
from lenscal.io.images import read_image  # noqa: E402
from lenscal.io.metadata import read_metadata  # noqa: E402
from lenscal.optics.psf import gaussian  # noqa: E402
from lenscal.profile import LensProfile  # noqa: E402

SIZE = (96, 128)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def shoot(tmp_path_factory) -> Path:
    """photos/: three DNGs at f/16 and a corrupt one; p.json (one profile); set/ (f/8 and f/16)."""
    root = tmp_path_factory.mktemp("cluster")
    for i in range(3):
        make_dng(root / "photos" / f"img_{i}.dng", SIZE, seed=i, f_number=16.0)
    (root / "photos" / "broken.dng").write_bytes(b"II*\x00" + os.urandom(2000))
    meta = read_metadata(root / "photos" / "img_0.dng")
    LensProfile.from_grid(gaussian(1.2, 9).expand(3, 3, 3, 9, 9).numpy(), 0.01, meta).save(root / "p.json")
    from dataclasses import replace

    for f, sigma in ((8.0, 0.8), (16.0, 1.6)):
        LensProfile.from_grid(gaussian(sigma, 9).expand(3, 3, 3, 9, 9).numpy(), 0.01,
                              replace(meta, f_number=f)).save(root / "set" / f"f{f:g}.json")
    return root


def test_a_cluster_batch_writes_the_files_a_local_batch_writes(cluster, shoot, tmp_path):
    photos = shoot / "photos"
    before = tree_hashes(photos)
    local = run_cli("correct", photos, "--profile", shoot / "p.json", "-o", tmp_path / "local", "--json")
    remote = run_cli("correct", photos, "--profile", shoot / "p.json", "-o", tmp_path / "remote", "--json",
                     "--scheduler", cluster)
    assert local.returncode == remote.returncode == 2, remote.stderr  # the corrupt photo, as locally
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert [(p["status"], p["profile"]) for p in a["photos"]] == [(p["status"], p["profile"]) for p in b["photos"]]
    broken = next(p for p in b["photos"] if p["file"].endswith("broken.dng"))
    assert broken["status"] == "failed" and str(photos / "broken.dng") in broken["reason"] and "lenscal-" not in broken["reason"]
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "remote").iterdir()) and len(names) == 3
    for name in names:
        (x, note_x), (y, note_y) = read_image(tmp_path / "local" / name), read_image(tmp_path / "remote" / name)
        assert note_x == note_y and np.abs(x - y).max() <= 2.5 / 65535, name  # within one 16-bit sRGB step
    assert read_metadata(tmp_path / "remote" / names[0]).model == "DC-GX9"  # the photo's EXIF, copied on the worker
    assert tree_hashes(photos) == before
    assert not list((tmp_path / "remote").glob(".*.part"))

    # run again: the finished photos are skipped on the client, the foreign file is never replaced
    (tmp_path / "remote" / names[0]).unlink()
    (tmp_path / "remote" / names[1]).write_bytes(b"mine")
    again = run_cli("correct", photos, "--profile", shoot / "p.json", "-o", tmp_path / "remote", "--json",
                    "--scheduler", cluster)
    s = {Path(p["file"]).name: p for p in json.loads(again.stdout)["photos"]}
    assert s["img_0.dng"]["status"] == "done" and s["img_2.dng"]["status"] == "skipped"
    assert s["img_1.dng"]["status"] == "failed" and "not written by lenscal" in s["img_1.dng"]["reason"]
    assert (tmp_path / "remote" / names[1]).read_bytes() == b"mine" and again.returncode == 1  # mixed causes


def test_a_profile_set_on_a_cluster_skips_photos_without_a_profile(cluster, shoot, tmp_path):
    make_dng(tmp_path / "f22.dng", SIZE, f_number=22.0)
    make_dng(tmp_path / "f11.dng", SIZE, seed=5, f_number=11.0)
    events = []
    from lenscal.correct.batch import CorrectOptions
    from lenscal.profileset import load_chooser

    summary = correct_on_cluster([tmp_path / "f11.dng", tmp_path / "f22.dng"], load_chooser(shoot / "set"),
                                 tmp_path / "out", scheduler=cluster, options=CorrectOptions(solver={"iterations": 3}),
                                 progress=lambda *e: events.append(e))
    r11, r22 = summary.results
    assert r11.status == "done" and r11.profile == "interpolated f/8-f/16 (f8.json, f16.json)"
    assert r22.status == "skipped" and "f/22 is outside the calibrated f/8-f/16" in r22.reason
    assert summary.exit_code == 6 and events[-1][:3] == ("correcting", 2, 2)
    assert read_image(tmp_path / "out" / "f11_corrected.tif")[1]["profile"] == r11.profile


def test_an_unreachable_scheduler_is_one_line(shoot, tmp_path):
    with pytest.raises(ClusterError) as e:
        correct_on_cluster([shoot / "photos" / "img_0.dng"], LensProfile.load(shoot / "p.json"), tmp_path,
                           scheduler="tcp://127.0.0.1:9", connect_timeout=1.0)
    line = e.value.one_line()
    assert e.value.exit_code == 2 and "\n" not in line and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in line


def test_workers_without_lenscal_or_of_another_version_are_refused(cluster):
    client = distributed.Client(cluster, set_as_default=False)
    try:
        from lenscal.correct.cluster import probe_workers

        found = probe_workers(client)
    finally:
        client.close()
    assert len(found) == 2 and all(w["version"] == __version__ and w["cores"] >= 1 for w in found.values())
    assert version_problems(found, __version__) is None
    first = sorted(found)[0]
    missing = {**found, first: {**found[first], "version": None}}
    assert "1 worker(s) have no lenscal installed" in version_problems(missing, __version__)
    older = {**found, first: {**found[first], "version": "0.0.1"}}
    assert "has 0.0.1" in version_problems(older, __version__) and __version__ in version_problems(older, __version__)
    assert version_problems({}, __version__) == "the scheduler has no workers"
