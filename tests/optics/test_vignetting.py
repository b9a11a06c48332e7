from __future__ import annotations

import numpy as np
import pytest

from lenscal.errors import LenscalError
from lenscal.io.metadata import read_metadata
from lenscal.optics.vignetting import VignettingOutcome, devignette, find_model, vignetting_gain
from lenscal.simulate import CAMERA
from tests.conftest import SHARED, needs_shared

GX9 = CAMERA.__class__(**{**CAMERA.to_dict(), "f_number": 16.0, "width": 300, "height": 200})


@needs_shared
def test_lensfun_finds_the_canon_30d_and_its_lens():
    meta = read_metadata(SHARED / "raw" / "rawtran_IMG_5952_Canon30D_EF-S18-55_f22.CR2")
    model = find_model(meta, meta.width, meta.height)
    assert model.camera is not None and model.camera.model == "Canon EOS 30D"
    # lensfun knows this lens for distortion only: the lookup must say so, not pretend
    assert model.lens is None and "no vignetting data" in model.reason and "18-55" in model.reason
    pixels = np.ones((20, 30, 3), np.float32)
    out, note = devignette(pixels.copy(), meta, "auto")
    assert np.array_equal(out, pixels) and note.outcome is VignettingOutcome.UNAVAILABLE and not note.devignetted
    assert note.text.startswith("no vignetting correction")
    with pytest.raises(LenscalError, match="no vignetting data"):
        devignette(pixels.copy(), meta, "lensfun")


def test_devignetting_undoes_lensfun_vignetting():
    gain_add = vignetting_gain(GX9, 300, 200, reverse=True)
    assert gain_add[0, 0, 0] < 0.95 * gain_add[100, 150, 0]  # the corners really are darker
    flat = np.full((200, 300, 3), 0.4, np.float32) * gain_add
    fixed, note = devignette(flat.copy(), GX9, "auto")
    assert note.outcome is VignettingOutcome.CORRECTED and note.devignetted and "lensfun" in note.text
    assert np.abs(fixed / 0.4 - 1).max() < 0.01
    off, note = devignette(flat.copy(), GX9, "off")
    assert np.array_equal(off, flat) and note.outcome is VignettingOutcome.OFF and "off" in note.text


def test_unknown_lens_says_why():
    meta = GX9.__class__(**{**GX9.to_dict(), "lens_model": "Nonexistent 13mm f/0.9"})
    assert "does not know the lens" in find_model(meta, 300, 200).reason
