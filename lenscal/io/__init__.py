"""File input and output: every byte lenscal reads or writes passes through here."""
