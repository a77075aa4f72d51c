"""Exception types raised by pyanimf."""


class RatingsFormatError(ValueError):
    """A ratings or metadata file cannot be read as ratings.

    The message names the file, the line (1-based) and the value, and says
    what to change.
    """


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite value (NaN or infinity)."""


class ModelFileError(ValueError):
    """A saved model file is missing, truncated, corrupt or of a newer format."""
