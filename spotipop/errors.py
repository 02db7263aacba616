"""Errors a user can act on.

The command-line tools print any SpotipopError as one line on stderr and exit
non-zero; its message names the file, line, column, flag, folder or step to
look at. Anything else is a bug and keeps its traceback; a full disk is the one
library error reported the same way (disk_full).
"""

import errno
import re


class SpotipopError(Exception):
  """Bad input, settings or state; the message says where and what to try."""

  exit_status = 1


class Interrupted(SpotipopError):
  """A run stopped on request (SIGTERM, Ctrl-C) after saving its step."""

  exit_status = 75  # EX_TEMPFAIL: the same command resumes it.


class LockedError(SpotipopError):
  """Another process holds the run (or dataset) this one would write."""


class SomeTracksFailed(SpotipopError):
  """Prediction scored the tracks it could; some it could not (listed)."""

  exit_status = 2


class DataError(SpotipopError, ValueError):
  """A catalogue that cannot train the configured model."""


class TrainingDivergedError(SpotipopError):
  """The loss or the parameters stopped being finite, or the loss exploded."""


class CheckpointError(SpotipopError):
  """A checkpoint that is missing or cannot be restored."""


class FlagError(SpotipopError, ValueError):
  """A flag value that cannot work; the message names the flag."""


class ConfigMismatchError(SpotipopError, ValueError):
  """A workdir trained under other settings; resuming it would mix two runs."""


class ManifestError(SpotipopError, ValueError):
  """A manifest that cannot be read; the message names file, line and column."""


class AudioError(SpotipopError, ValueError):
  """An audio file that cannot be used; the message names the file."""


class FetchError(SpotipopError):
  """A catalogue's server refused a request, kept failing it or answered in
  another shape than its documentation; the message names the request."""


_DISK_FULL_TEXT = ('RESOURCE_EXHAUSTED', 'No space left on device',
                   'Disk quota exceeded')
# TensorStore: 'local file "PATH"'; array_record: '; writing PATH; '.
_QUOTED_PATH = re.compile(r'(?:local file|file) "([^"]+)"|; writing ([^;]+);')


def _full_disk(error):
  """(whether error is a full disk, the path it names or None)."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC,
                                                    errno.EDQUOT):
    return True, error.filename
  if any(text in str(error) for text in _DISK_FULL_TEXT):
    match = _QUOTED_PATH.search(str(error))
    return True, match and (match.group(1) or match.group(2))
  return False, None


def _disk_full_line(path):
  return (f'cannot write {path or "to disk"}: no space left on the device. '
          'Nothing already saved is lost: free space and run the same command '
          'to resume.')


def disk_full(error, path=None):
  """One line naming the path that could not be written, or None.

  A full disk reaches us as OSError(ENOSPC) from Python's own writes, or as
  TensorStore's RESOURCE_EXHAUSTED from Orbax and array_record. `path` is what
  the caller was writing, when it knows; else the path the error names.
  """
  full, named = _full_disk(error)
  return _disk_full_line(path or named) if full else None


def first_disk_full(error):
  """disk_full's line for the first full-disk failure behind error, or None.

  On a full disk, closing files on the way out fails too; the error that
  reaches the top is then the last failure, and the write that failed first,
  the one to report, is deepest in its context chain. A path named wins.
  """
  failures = []
  while error is not None:
    full, path = _full_disk(error)
    if full:
      failures.append(path)
    error = error.__context__
  if not failures:
    return None
  named = [path for path in failures if path]
  return _disk_full_line((named or failures)[-1])
