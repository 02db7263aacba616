"""Writing the files a run leaves its user: whole or not at all, and naming
the file when a write fails.

A kill or a full disk in the middle of a write must not leave half a report
or half a config.json for the next command to trip on; and a full disk seen
at write() raises an OSError that names no file, which is no help to a user
who must decide what to delete.
"""

import contextlib
import os

from spotipop import errors


@contextlib.contextmanager
def naming(path, stand_in=None):
  """Re-raises an OSError that names no file, or names stand_in (a temporary
  file written for path), as one that names path."""
  try:
    yield
  except OSError as e:
    if e.filename not in (None, stand_in):
      raise
    raise OSError(e.errno, e.strerror, os.fspath(path)) from e


@contextlib.contextmanager
def replaced(path, mode='w', **open_args):
  """A file object whose contents replace path once the block ends normally.

  They are written to a temporary file beside path, which takes path's name
  in one rename; on any error it is removed and path is as it was.
  """
  path = os.fspath(path)
  temporary = f'{path}.partial-{os.getpid()}'
  try:
    with naming(path, stand_in=temporary):
      with open(temporary, mode, **open_args) as f:
        yield f
      os.replace(temporary, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(temporary)
    raise


def check_writable_folder(path, flag):
  """Makes path (a folder) or says in one line why it cannot be written,
  pointing to the flag that puts the output elsewhere: a tool that would
  fail at its last write learns it before its slow work."""
  if os.path.exists(path) and not os.path.isdir(path):
    reason = 'a file, not a folder'
  else:
    try:
      os.makedirs(path, exist_ok=True)
    except OSError as e:
      reason = e.strerror
    else:
      if os.access(path, os.W_OK | os.X_OK):
        return
      reason = 'not writable'
  raise errors.SpotipopError(
      f'cannot write {path} ({reason}): give {flag}=A_FOLDER_YOU_CAN_WRITE')
