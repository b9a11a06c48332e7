"""Learning a lens's PSF grid from two unpaired sets of photos (steps 1 and 2 of docs/method.md).

The CLI calls :func:`lenscal.learn.pipeline.learn_grid`; everything else here is pure maths over
tensors (patch sampling, the velocity net, flow matching, distribution matching) with presets.
"""

from lenscal.learn.pipeline import LearnResult, learn_grid
from lenscal.learn.presets import PRESETS, LearnSettings, RunOptions, get_settings

__all__ = ["LearnResult", "learn_grid", "LearnSettings", "PRESETS", "RunOptions", "get_settings"]
