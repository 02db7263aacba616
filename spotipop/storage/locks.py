"""One writer at a time: a dataset folder's builds and a run folder's trainer.

Two builds of one dataset would remove each other's part-written files, and
two trainers of one run would interleave their checkpoints. An advisory lock
(flock) on a small file serializes them; the kernel releases it when its
holder exits, a killed one included, so a stale lock cannot block a rerun.
The file holds the holder's pid and host, for the message that names it.
"""

import contextlib
import errno
import fcntl
import os
import socket

from absl import logging

from spotipop import errors
from spotipop.storage import atomic_files


@contextlib.contextmanager
def held(path, what, wait):
  """Holds the lock at `path` for the block.

  wait: block until the holder is done (builds: the second finds the dataset
  built), or else raise errors.LockedError naming the holder (runs).
  """
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
      raise
    # A folder this process cannot write (a shared, built dataset) has no
    # writer to keep out.
    logging.info('%s is read-only here (%s): not locked', path, e.strerror)
    yield
    return
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      holder = os.pread(fd, 200, 0).decode(errors='replace').strip() or '?'
      if not wait:
        raise errors.LockedError(
            f'{what} is in use by {holder} (lock {path}); wait for it to '
            'finish or stop it') from None
      logging.info('Waiting for %s, which holds %s', holder, path)
      fcntl.flock(fd, fcntl.LOCK_EX)
    with atomic_files.naming(path):
      os.ftruncate(fd, 0)
      os.pwrite(fd, f'process {os.getpid()} on {socket.gethostname()}'.encode(),
                0)
    yield
  finally:
    os.close(fd)  # Releases the lock.
