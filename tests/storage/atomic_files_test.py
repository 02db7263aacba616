"""Files written whole or not at all; write errors that name the file, and
the first of them reported (errors.first_disk_full)."""

import errno
import os

import pytest

from spotipop import errors
from spotipop.storage import atomic_files


def test_a_replaced_file_takes_its_new_contents_whole(tmp_path):
  path = tmp_path / 'report.json'
  path.write_text('old')
  with atomic_files.replaced(path) as f:
    f.write('new')
    assert path.read_text() == 'old'  # Not before the block ends.
  assert path.read_text() == 'new' and os.listdir(tmp_path) == ['report.json']


def test_a_write_that_fails_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path):
  path = tmp_path / 'report.json'
  path.write_text('old')
  with pytest.raises(OSError) as raised:
    with atomic_files.replaced(path) as f:
      f.write('half')
      raise OSError(errno.ENOSPC, 'No space left on device')
  # A full disk at write() names no file; the error now names the one meant.
  assert raised.value.errno == errno.ENOSPC
  assert raised.value.filename == str(path)
  assert path.read_text() == 'old' and os.listdir(tmp_path) == ['report.json']


def test_errors_name_the_file_meant_not_the_temporary_one(tmp_path):
  path = tmp_path / 'no' / 'such' / 'folder.json'
  with pytest.raises(FileNotFoundError) as raised:
    with atomic_files.replaced(path):
      pass
  assert raised.value.filename == str(path)


def test_an_error_naming_another_file_is_left_as_it_is(tmp_path):
  with pytest.raises(FileNotFoundError) as raised:
    with atomic_files.replaced(tmp_path / 'a.json'):
      open(tmp_path / 'missing.json')
  assert raised.value.filename == str(tmp_path / 'missing.json')


def test_naming_leaves_other_errors_alone():
  with pytest.raises(ValueError):
    with atomic_files.naming('/x'):
      raise ValueError('not a file error')


def _full(path=None):
  return OSError(errno.ENOSPC, 'No space left on device', path)


def test_the_first_full_disk_failure_is_the_one_reported():
  """Closing files on the way out fails too: the report names the write that
  failed first, deepest in the chain, and prefers a failure naming a path."""
  try:
    try:
      try:
        raise _full()  # write() names no file...
      except OSError as e:
        raise _full('/run/metrics.jsonl') from e  # ...files.naming does.
    except OSError:
      raise _full('/run/tensorboard')  # pylint: disable=raise-missing-from
  except OSError as last:
    line = errors.first_disk_full(last)
  assert line.startswith('cannot write /run/metrics.jsonl: no space left')
  assert errors.first_disk_full(_full()).startswith('cannot write to disk')
  assert errors.first_disk_full(ValueError('other')) is None


def test_full_disk_messages_of_the_storage_libraries_name_their_path():
  # As array_record (dataset shards) and TensorStore (checkpoints) word it.
  shard = RuntimeError('Failed to finalize writing of split "train": write() '
                       'failed: No space left on device; writing /d/x.array_'
                       'record-00000-of-00001; at byte 0; Failed to close')
  assert errors.disk_full(shard).startswith(
      'cannot write /d/x.array_record-00000-of-00001: no space left')
  checkpoint = ValueError('RESOURCE_EXHAUSTED: Error writing local file '
                          '"/w/checkpoints/latest/2/d/abc": No space left')
  assert errors.disk_full(checkpoint).startswith(
      'cannot write /w/checkpoints/latest/2/d/abc: no space left')
  # Any other failure is no full disk, whatever path the caller gives.
  assert errors.disk_full(ValueError('other'), '/w/x') is None


def test_a_writable_folder_is_made_and_passes(tmp_path):
  folder = tmp_path / 'a' / 'b'
  atomic_files.check_writable_folder(str(folder), '--out')
  assert folder.is_dir()


def test_a_folder_that_cannot_be_made_is_one_line_naming_it_and_the_flag(
    tmp_path):
  (tmp_path / 'eval').write_text('a file where a folder should go')
  target = tmp_path / 'eval' / 'test-best'
  with pytest.raises(errors.SpotipopError, match=(
      rf'^cannot write {target} \(Not a directory\): give '
      r'--out=A_FOLDER_YOU_CAN_WRITE$')):
    atomic_files.check_writable_folder(str(target), '--out')
  with pytest.raises(errors.SpotipopError, match=(
      rf'^cannot write {tmp_path / "eval"} \(a file, not a folder\): give '
      '--data_dir=')):
    atomic_files.check_writable_folder(str(tmp_path / 'eval'), '--data_dir')


def test_a_read_only_file_system_and_a_folder_without_write_access_are_named(
    tmp_path, monkeypatch):
  """EROFS (a read-only mount) and access(W_OK) false are what a user meets;
  the tests run as root, which neither chmod nor a plain mount can stop."""
  def read_only(path, exist_ok=False):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
  with monkeypatch.context() as patch:
    patch.setattr(os, 'makedirs', read_only)
    with pytest.raises(errors.SpotipopError,
                       match=r'\(Read-only file system\): give --out='):
      atomic_files.check_writable_folder(str(tmp_path / 'x'), '--out')
  # A folder that exists but may not be written (access(W_OK) false).
  monkeypatch.setattr(os, 'access',
                      lambda path, mode: not mode & os.W_OK)
  with pytest.raises(errors.SpotipopError, match=rf'^cannot write {tmp_path} '
                     r'\(not writable\): give --report_dir='):
    atomic_files.check_writable_folder(str(tmp_path), '--report_dir')
