"""Keeps the console readable: spotipop's progress, not library chatter."""

import logging

from absl import logging as absl_logging

_CHATTY = ('/orbax/', '/tensorflow_datasets/', '/etils/', '/apache_beam/')
# Orbax warns that a read-only checkpoint manager is read-only: the reading
# tools open them so on purpose.
_EXPECTED = ('read_only=True, setting', 'Given directory is read only')


class _DropLibraryChatter(logging.Filter):
  """Library INFO records: which file a library opened is not progress;
  nor are warnings about a choice spotipop made."""

  def filter(self, record):
    if not any(part in record.pathname for part in _CHATTY):
      return True
    if any(text in record.getMessage() for text in _EXPECTED):
      return False
    return record.levelno >= logging.WARNING


def quiet_libraries():
  """Drops INFO records from checkpointing/dataset libraries; keeps warnings."""
  absl_logging.get_absl_handler().addFilter(_DropLibraryChatter())
