"""Keeps the console readable: spotipop's progress, not library chatter."""

import logging

from absl import logging as absl_logging

from spotipop import errors

_CHATTY = ('/orbax/', '/tensorflow_datasets/', '/etils/')


class _DropLibraryChatter(logging.Filter):
  """Library INFO records, and a library's own logs of a full disk.

  Orbax logs a failed background save from each of its threads, traceback
  and all; the CLI reports the same error once, as one line (cli.run).
  """

  def filter(self, record):
    if not any(part in record.pathname for part in _CHATTY):
      return True
    if record.exc_info and errors.disk_full(record.exc_info[1]):
      return False
    return record.levelno >= logging.WARNING


def quiet_libraries():
  """Drops INFO records from checkpointing/dataset libraries; keeps warnings."""
  absl_logging.get_absl_handler().addFilter(_DropLibraryChatter())
