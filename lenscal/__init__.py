"""lenscal: learn a lens's blur from unpaired photos and remove it."""

__version__ = "0.1.0"
