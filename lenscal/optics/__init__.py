"""The physics: PSF grids, the blur they cause, and vignetting."""
