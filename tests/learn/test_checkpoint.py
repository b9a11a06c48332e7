"""Checkpoints: atomic, plain data only, loaded with weights_only, refused when they do not fit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from lenscal.errors import LenscalError
from lenscal.learn import learn_grid
from lenscal.learn.pipeline import CHECKPOINT, VERSION, load_checkpoint, save_checkpoint
from lenscal.learn.presets import RunOptions

from .synth import shoot, true_grid

TINY = {"patch": 16, "channels": (8, 16), "step1_steps": 4, "step1_batch": 4, "step2_steps": 3,
        "step2_min_steps": 1, "step2_batch": 4, "coarse": None, "centre_fraction": 0.5}
RUN = RunOptions(threads=1)


class Payload:
    """Anything that is not plain data must never be unpickled from a checkpoint."""

    def __reduce__(self):
        return (print, ("this would have run",))


def test_round_trip_is_atomic_and_plain(tmp_path):
    path = tmp_path / "c" / "learn.pt"
    state = {"version": VERSION, "w": torch.arange(3.0), "n": 5, "nested": {"a": [1.0, 2.0]}}
    save_checkpoint(path, state)
    save_checkpoint(path, {**state, "n": 6})
    back = load_checkpoint(path)
    assert back["n"] == 6 and torch.equal(back["w"], state["w"]) and back["nested"]["a"] == [1.0, 2.0]
    assert [p.name for p in path.parent.iterdir()] == ["learn.pt"]  # no temporary file left behind


def test_foreign_objects_are_refused(tmp_path):
    path = tmp_path / "learn.pt"
    with open(path, "wb") as f:
        pickle.dump({"version": VERSION, "evil": Payload()}, f)
    with pytest.raises(LenscalError, match="cannot be read"):
        load_checkpoint(path)
    path.write_bytes(b"truncated")
    with pytest.raises(LenscalError, match="cannot be read"):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def sets():
    return shoot(2, 2, 96, 128, true_grid(2, 2), 0.01, seed=5)


def test_resume_needs_a_matching_checkpoint(sets, tmp_path):
    sharp, blurry = sets
    with pytest.raises(LenscalError, match="nothing to resume"):
        learn_grid(sharp, blurry, grid_shape=(2, 2), checkpoint_dir=tmp_path, resume=True, overrides=TINY, options=RUN)
    result = learn_grid(sharp, blurry, grid_shape=(2, 2), checkpoint_dir=tmp_path, overrides=TINY, options=RUN)
    assert (tmp_path / CHECKPOINT).exists()
    assert result.grid.shape == (2, 2, 3, 13, 13)
    assert np.allclose(result.grid.sum((-2, -1)), 1, atol=1e-5) and result.grid.min() >= 0
    assert result.confidence.shape == (2, 2) and 0 <= result.confidence.min() <= result.confidence.max() <= 1
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["stage"] == "done" and state["step1"]["step"] == 4
    with pytest.raises(LenscalError, match="another seed"):
        learn_grid(sharp, blurry, grid_shape=(2, 2), checkpoint_dir=tmp_path, resume=True, overrides=TINY, options=RUN, seed=1)
    with pytest.raises(LenscalError, match="another set of photos"):
        learn_grid(sharp[::-1], blurry, grid_shape=(2, 2), checkpoint_dir=tmp_path, resume=True, overrides=TINY, options=RUN)
