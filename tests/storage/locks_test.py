"""One writer at a time, between real processes."""

import errno
import os
import threading
import time

import pytest

from conftest import lock_holder
from spotipop import errors
from spotipop.storage import locks


def test_a_held_lock_refuses_a_second_holder_naming_the_first(tmp_path):
  path = tmp_path / 'run' / '.lock'
  holder = lock_holder(path)
  try:
    with pytest.raises(errors.LockedError,
                       match=rf'^the folder is in use by process {holder.pid} '
                       rf'on .+ \(lock {path}\); wait for it'):
      with locks.held(str(path), 'the folder', wait=False):
        pass
  finally:
    holder.kill()
    holder.wait()
  # The kernel released a killed holder's lock.
  with locks.held(str(path), 'the folder', wait=False):
    assert path.read_text().startswith('process ')


def test_a_waiting_holder_gets_the_lock_when_the_first_lets_go(tmp_path):
  path = tmp_path / '.lock'
  holder = lock_holder(path, 1.5)
  started = time.monotonic()
  with locks.held(str(path), 'the folder', wait=True):
    waited = time.monotonic() - started
  holder.wait()
  assert waited > 1.0  # The first held it for 1.5 s after saying so.


def test_threads_of_one_process_are_serialized_too(tmp_path):
  """flock locks belong to open files: each `held` opens its own."""
  path, inside, overlaps = str(tmp_path / '.lock'), [], []

  def work():
    with locks.held(path, 'the folder', wait=True):
      overlaps.append(len(inside))
      inside.append(1)
      time.sleep(0.05)
      inside.pop()

  threads = [threading.Thread(target=work) for _ in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert overlaps == [0, 0, 0, 0]


@pytest.mark.parametrize('error', [errno.EACCES, errno.EROFS])
def test_a_folder_that_cannot_be_written_is_not_locked(tmp_path, monkeypatch,
                                                       error):
  """A built dataset on a read-only share: nothing can write it anyway."""
  def refuse(path, *args):
    raise OSError(error, os.strerror(error), path)
  monkeypatch.setattr(os, 'open', refuse)
  with locks.held(str(tmp_path / '.lock'), 'the folder', wait=False):
    pass
  monkeypatch.undo()
  (tmp_path / 'a_file').write_text('')
  with pytest.raises(FileExistsError):  # Any other failure is raised.
    with locks.held(str(tmp_path / 'a_file' / '.lock'), 'the folder',
                    wait=False):
      pass
