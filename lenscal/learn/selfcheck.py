"""The self-check after every learn: does the learned blur reproduce what the photos show?

Distribution matching reads any difference between the two sets' scenes as blur, and nothing in
its loss says when it did. What can be checked without a sharp reference of the same scene:
the sharpest edges near each node. The learned grid, applied to the sharp set's centre crops,
must give edges as wide as the blurry photos' edges there, in R, G and B (learn.widths
.forward_check); and there must be enough edges to say so. A profile that fails is not written
(unless the user insists), with a reason and what to reshoot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from lenscal.learn.widths import AGREE_SHARE

MIN_PLACES = 2  # measured places (mirror-pooled cells) per channel, below which nothing is checked
# at this ISO and above, a stopped-down set's finest "edges" are largely the noise's: the check
# reads them sharper than the lens draws them and refuses even the true blur
HIGH_ISO = 800
SCENES = ("reshoot both sets alternating the aperture on the same kinds of detailed scene "
          "(foliage, brickwork, text), in focus across the frame")


@dataclass(frozen=True)
class SelfCheck:
    status: str  # "passed", "failed", or "unchecked" (too few sharp edges to tell either way)
    reasons: tuple[str, ...] = ()  # one sentence each: what failed, or why nothing could be checked
    advice: str = ""  # what to reshoot
    agreement: dict = field(default_factory=dict)  # channel -> share of places that agree
    places: dict = field(default_factory=dict)  # channel -> places measured

    @property
    def passed(self) -> bool:
        """Not failed: a profile that could not be checked is written, with a warning."""
        return self.status != "failed"

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "passed": self.passed}


def judge(forward: dict) -> SelfCheck:
    """The verdict on :func:`lenscal.learn.widths.forward_check`'s readings."""
    reasons, agreement, places = [], {}, {}
    for name, ch in forward["channels"].items():
        agree = np.asarray(ch["agree"], bool)
        places[name] = ch["places"]
        if ch["places"] < MIN_PLACES:
            continue
        share = float(agree.sum() / ch["places"])
        agreement[name] = round(share, 3)
        if share < AGREE_SHARE:
            m, p = np.asarray(ch["measured_px2"], float), np.asarray(ch["predicted_px2"], float)
            wider = np.nanmedian(p - m) > 0
            reasons.append(f"the learned blur makes edges {'wider' if wider else 'narrower'} than the blurry photos "
                           f"show in {name} at {ch['places'] - int(agree.sum())} of {ch['places']} places")
    advice = SCENES
    if reasons:
        return SelfCheck("failed", tuple(reasons), advice, agreement, places)
    if not agreement:
        return SelfCheck("unchecked", ("too few sharp edges in the blurry photos to check the learned blur",),
                         advice, agreement, places)
    return SelfCheck("passed", (), "", agreement, places)


def advised(check: SelfCheck, iso: float | None, pitch_unknown: bool) -> SelfCheck:
    """``check`` with advice for what the photos' metadata says may have failed it, most telling
    first: a stopped-down set whose diffraction could not be modelled (the pixel pitch unknown:
    the Airy pattern is then learned like any blur, and worst), noise (``iso``, the highest of
    both sets), then the scenes. A passed check needs none."""
    if check.status == "passed":
        return check
    advice = []
    if pitch_unknown:
        advice.append("give --pixel-pitch (the sensor's width in mm x 1000 / the photos' width in px), so the "
                      "stopped-down set's diffraction is modelled")
    if iso is not None and iso >= HIGH_ISO:
        advice.append(f"shoot at the camera's lowest ISO on a tripod: at ISO {iso:g} noise hides the edges the "
                      "self-check reads")
    return replace(check, advice="; ".join([*advice, SCENES]))


def combine(before: SelfCheck, after: SelfCheck) -> SelfCheck:
    """The verdict on a grid whose widths were calibrated to the photos' edges: ``before`` (the
    grid as step 2 learned it) must not fail, for the calibration fits the very edges that
    ``after`` (the calibrated grid) is checked on."""
    if before.status != "failed":
        return after
    reasons = tuple(f"before the edge-width calibration, {r}" for r in before.reasons)
    return SelfCheck("failed", reasons + after.reasons, before.advice, after.agreement, after.places)

