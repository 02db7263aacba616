"""Keeps the console readable: spotipop's progress, not library chatter."""

import logging

from absl import logging as absl_logging

_CHATTY = ('/orbax/', '/tensorflow_datasets/', '/etils/')


class _DropLibraryInfo(logging.Filter):

  def filter(self, record):
    return record.levelno >= logging.WARNING or not any(
        part in record.pathname for part in _CHATTY)


def quiet_libraries():
  """Drops INFO records from checkpointing/dataset libraries; keeps warnings."""
  absl_logging.get_absl_handler().addFilter(_DropLibraryInfo())
