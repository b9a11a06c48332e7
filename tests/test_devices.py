"""One device choice for learn, correct and a cluster's workers (lenscal.devices)."""

from __future__ import annotations

import pytest
import torch

from lenscal.devices import check_name, pick_device
from lenscal.errors import LenscalError


def test_auto_takes_the_best_device_here():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    assert pick_device("auto") == expected
    assert pick_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", "", "CPU"])
def test_unknown_devices_are_refused_in_one_line(name):
    with pytest.raises(LenscalError, match="unknown device"):
        pick_device(name)
    with pytest.raises(LenscalError, match="unknown device"):
        check_name(name)


def test_names_are_checked_without_looking_for_the_device():
    for name in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert check_name(name) == name


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_said():
    with pytest.raises(LenscalError, match="CUDA is not available"):
        pick_device("cuda:0")
