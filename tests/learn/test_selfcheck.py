"""The self-check's verdicts from forward-check readings: passed, failed with a reason, unchecked
when too few edges, and a calibrated grid judged on what step 2 learned too."""

from __future__ import annotations

from lenscal.learn.selfcheck import HIGH_ISO, MIN_PLACES, SCENES, advised, combine, judge
from lenscal.learn.widths import AGREE_SHARE


def reading(agree: list[bool], measured: float = 1.0, predicted: float = 1.0) -> dict:
    n = len(agree)
    return {"agree": agree, "places": n, "measured_px2": [measured] * n, "predicted_px2": [predicted] * n}


def forward(r: dict, g: dict, b: dict) -> dict:
    return {"channels": {"R": r, "G": g, "B": b}}


def test_agreement_everywhere_passes():
    ok = reading([True] * 8)
    check = judge(forward(ok, ok, ok))
    assert check.status == "passed" and check.passed and not check.reasons
    assert check.agreement == {"R": 1.0, "G": 1.0, "B": 1.0}


def test_too_wide_in_one_channel_fails_and_says_where():
    ok = reading([True] * 8)
    n_bad = 8 - int(AGREE_SHARE * 8) + 1
    wide = reading([False] * n_bad + [True] * (8 - n_bad), measured=1.0, predicted=2.5)
    check = judge(forward(ok, wide, ok))
    assert check.status == "failed" and not check.passed
    assert len(check.reasons) == 1 and "wider" in check.reasons[0] and " G " in check.reasons[0]
    assert f"{n_bad} of 8" in check.reasons[0] and "reshoot" in check.advice
    assert check.to_dict()["passed"] is False


def test_too_few_edges_is_unchecked_not_failed():
    few = reading([False] * (MIN_PLACES - 1))
    check = judge(forward(few, few, few))
    assert check.status == "unchecked" and check.passed and "too few sharp edges" in check.reasons[0]
    # one channel short of edges is skipped; the others decide
    ok = reading([True] * 8)
    assert judge(forward(few, ok, ok)).status == "passed"


def test_a_grid_that_disagreed_before_its_width_calibration_fails():
    """The calibration fits the edges the check reads: passing after it proves nothing when the
    grid step 2 learned disagreed with the photos."""
    ok = reading([True] * 8)
    bad = reading([False] * 8, measured=1.0, predicted=0.4)
    before, after = judge(forward(bad, bad, ok)), judge(forward(ok, ok, ok))
    check = combine(before, after)
    assert check.status == "failed"
    assert all(r.startswith("before the edge-width calibration") for r in check.reasons) and len(check.reasons) == 2
    assert "narrower" in check.reasons[0]
    assert combine(after, after) == after
    assert combine(judge(forward(*[reading([True])] * 3)), after) == after  # unchecked before: the after verdict


def test_a_failed_check_says_first_what_the_metadata_shows_went_wrong():
    """The advice names the pixel pitch where a stopped-down set's diffraction could not be
    modelled, and the ISO where the blurry photos are noisy, before the scenes; a passed check
    keeps none."""
    failed = judge(forward(*[reading([False] * 8, predicted=2.5)] * 3))
    plain = advised(failed, 200, False)
    assert plain.advice == SCENES and plain.reasons == failed.reasons and plain.status == "failed"
    noisy = advised(failed, HIGH_ISO, False).advice
    assert noisy.startswith("shoot at the camera's lowest ISO") and f"ISO {HIGH_ISO}" in noisy and noisy.endswith(SCENES)
    both = advised(failed, 3200, True).advice.split("; ")
    assert both[0].startswith("give --pixel-pitch") and "ISO 3200" in both[1] and both[2] == SCENES
    assert advised(failed, None, False).advice == SCENES  # no ISO in the files: nothing said of it
    unchecked = judge(forward(*[reading([False])] * 3))
    assert "ISO 1600" in advised(unchecked, 1600, False).advice
    passed = judge(forward(*[reading([True] * 8)] * 3))
    assert advised(passed, 1600, True) == passed
