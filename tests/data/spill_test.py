"""The spilled shuffle bucket: what TFDS's shuffler reads back and counts, and
the open-files limit raised when a build's 1,000 buckets exceed it."""

import os
import resource

from tensorflow_datasets.core import shuffle

from spotipop.data import spill

RECORDS = [(7, b'abc'), (3, b''), (2**100 + 5, b'\x00\xff' * 300)]


def _filled_bucket(path):
  bucket = spill._FileBucket(path)  # pylint: disable=protected-access
  for key, data in RECORDS:
    bucket.add(key, data)
  return bucket


def test_a_bucket_reads_back_each_record_in_order_and_counts_them(tmp_path):
  bucket = _filled_bucket(tmp_path / 'buckets' / 'bucket_000.tmp')
  # The shuffler cuts shards by these counts.
  assert (len(bucket), bucket.size) == (3, 603)
  assert list(bucket.read_values()) == RECORDS
  bucket.del_file()
  assert not os.path.exists(tmp_path / 'buckets' / 'bucket_000.tmp')


def test_a_bucket_nothing_was_added_to_reads_nothing_and_leaves_no_file(
    tmp_path):
  bucket = spill._FileBucket(tmp_path / 'bucket_001.tmp')  # pylint: disable=protected-access
  assert (len(bucket), bucket.size, list(bucket.read_values())) == (0, 0, [])
  bucket.del_file()
  assert not os.listdir(tmp_path)


def test_buckets_past_the_open_files_limit_raise_it_and_are_all_written(
    tmp_path):
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  in_use = len(os.listdir('/proc/self/fd'))
  low = in_use + 10
  try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    buckets = [_filled_bucket(tmp_path / f'bucket_{i:03d}.tmp')
               for i in range(40)]  # More open files than the limit allows.
    raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    for bucket in buckets:
      assert list(bucket.read_values()) == RECORDS
  finally:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
  expected = low + shuffle.BUCKETS_NUMBER
  assert raised == (expected if hard == resource.RLIM_INFINITY
                    else min(expected, hard))


def test_install_makes_the_shuffler_spill_to_plain_files_past_its_budget():
  spill.install()
  assert shuffle._Bucket is spill._FileBucket  # pylint: disable=protected-access
  assert shuffle.MAX_MEM_BUFFER_SIZE == 128 * 2**20
