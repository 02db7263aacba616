"""Bounded build memory: TFDS's shuffle buffer spills to disk without TensorFlow.

TFDS holds a split's serialized examples in memory up to 1 GB, then moves them
to 1,000 sorted bucket files through tf.io.gfile, that is TensorFlow, which
spotipop does not install. Unpatched, a split over 1 GB (about 760 tracks of
the paper's 30 s, 22.05 kHz clips) fails to build, and the build's memory
grows with the catalogue up to that point.

`install()` writes the buckets with plain file I/O and lowers the in-memory
buffer to MEMORY_BYTES. Records come out in the same order either way: the
buckets partition the same sorted key range. TFDS is pinned in setup.cfg, and
tests/data/catalog_test.py checks a spilled build against an in-memory one.
"""

import errno
import os
import resource
import struct

from tensorflow_datasets.core import shuffle

MEMORY_BYTES = 128 << 20


class _FileBucket(shuffle._Bucket):  # pylint: disable=protected-access
  """A TFDS bucket file in its own format (key, size, data), via open()."""

  def add(self, key, data):
    if not self._fobj:
      os.makedirs(os.path.dirname(self._path), exist_ok=True)
      try:
        self._fobj = open(self._path, 'wb')
      except OSError as e:  # One open file per bucket: up to 1,000.
        if e.errno != errno.EMFILE:
          raise
        _raise_open_files_limit()
        self._fobj = open(self._path, 'wb')
    self._fobj.write(shuffle._hkey_to_bytes(key))  # pylint: disable=protected-access
    self._fobj.write(struct.pack('=Q', len(data)))
    self._fobj.write(data)
    self._length += 1
    self._size += len(data)

  def flush(self):
    if self._fobj and not self._fobj.closed:
      self._fobj.close()

  def read_values(self):
    self.flush()
    if not os.path.exists(self._path):  # Nothing was added.
      return
    with open(self._path, 'rb') as f:
      while key := f.read(shuffle.HKEY_SIZE_BYTES):
        (size,) = struct.unpack('=Q', f.read(8))
        yield shuffle._read_hkey(key), f.read(size)  # pylint: disable=protected-access

  def del_file(self):
    if os.path.exists(self._path):
      os.remove(self._path)


def _raise_open_files_limit():
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  wanted = soft + shuffle.BUCKETS_NUMBER
  if hard != resource.RLIM_INFINITY:
    wanted = min(wanted, hard)
  resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def install():
  """Makes TFDS spill shuffle buffers past MEMORY_BYTES to plain files."""
  shuffle._Bucket = _FileBucket  # pylint: disable=protected-access
  shuffle.MAX_MEM_BUFFER_SIZE = MEMORY_BYTES
