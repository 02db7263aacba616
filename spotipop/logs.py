"""Keeps the console readable: spotipop's progress, not library chatter."""

import logging

from absl import logging as absl_logging

_CHATTY = ('/orbax/', '/tensorflow_datasets/', '/etils/', '/apache_beam/')


class _DropLibraryChatter(logging.Filter):
  """Library INFO records: which file a library opened is not progress."""

  def filter(self, record):
    if not any(part in record.pathname for part in _CHATTY):
      return True
    return record.levelno >= logging.WARNING


def quiet_libraries():
  """Drops INFO records from checkpointing/dataset libraries; keeps warnings."""
  absl_logging.get_absl_handler().addFilter(_DropLibraryChatter())
