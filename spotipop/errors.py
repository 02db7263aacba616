"""Errors a user can act on.

The command-line tools print any SpotipopError as one line on stderr and exit
non-zero; its message names the file, line, column, flag, folder or step to
look at. Anything else is a bug and keeps its traceback.
"""


class SpotipopError(Exception):
  """Bad input, settings or state; the message says where and what to try."""


class DataError(SpotipopError, ValueError):
  """A catalogue that cannot train the configured model."""


class TrainingDivergedError(SpotipopError):
  """The loss or the parameters stopped being finite, or the loss exploded."""


class CheckpointError(SpotipopError):
  """A checkpoint that is missing or cannot be restored."""
