"""The progress callback every long-running function takes (one definition, imported everywhere).

``progress(stage, done, total, info)``: ``stage`` names the work (e.g. "step 2: PSF grid"),
``done`` of ``total`` units are finished, ``info`` holds a few numbers to show (a loss, sigma).
A KeyboardInterrupt raised from it stops the work as Ctrl-C would.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int, dict], None]
