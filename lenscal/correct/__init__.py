"""Step 3: correct photos with a lens profile (non-blind, spatially varying deconvolution)."""

from lenscal.correct.deconv import SolverOptions, deconvolve

__all__ = ["SolverOptions", "deconvolve"]
