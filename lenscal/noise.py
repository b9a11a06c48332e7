"""Robust noise level of an image: Immerkaer's high-pass and a median, shared by the learn
checks and the deconvolution.

The 3x3 filter [1 -2 1; -2 4 -2; 1 -2 1] cancels smooth signal (up to second order) and keeps
white noise with gain 6; edges and texture are sparse in that band while noise is everywhere,
so the median absolute response (x 1.4826, the Gaussian MAD factor) ignores the few edges that
pass it.
"""

from __future__ import annotations

import cv2
import numpy as np

IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def highpass(plane: np.ndarray) -> np.ndarray:
    """Immerkaer's response of one 2-D plane (same size; borders reflected, so drop them)."""
    return cv2.filter2D(np.asarray(plane, np.float32), -1, IMMERKAER, borderType=cv2.BORDER_REFLECT)


def robust_sigma(response: np.ndarray) -> float:
    """White-noise std from high-pass responses (any shape), robust to the edges among them."""
    return float(1.4826 * np.median(np.abs(response)) / 6.0)
