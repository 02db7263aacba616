"""Batches: device shapes, determinism for exact resume, host sharding, padding."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from conftest import small_config
from spotipop import errors
from spotipop.data import datasets
from spotipop.data import pipeline


@pytest.fixture(scope='module')
def dataset(catalogue, tmp_path_factory):
  config = small_config(catalogue[0], tmp_path_factory.mktemp('tfds'))
  builder = datasets.build(config.data)
  return builder.as_data_source(), builder.info.metadata


def _ids(batches):
  return [tuple(b['meta']['track_id']) for b in batches]


def test_train_batches_are_device_shaped_rows_of_the_split(dataset):
  sources, metadata = dataset
  batches = pipeline.Batches(sources['train'], metadata, 16, 8, train=True)
  batch = next(batches.epoch(0))
  assert batch['audio'].shape == (8, 2, 8000)
  assert batch['mask'].all() and len(batches) == len(sources['train']) // 16
  # Device d's example i is the split's row with that track id, transformed.
  rows = {r['track_id'].decode(): r for r in sources['train']}
  expected = pipeline.read_columns(
      [rows[i] for i in batch['meta']['track_id']], metadata)
  for key in ('audio', 'features', 'genre_id', 'label', 'popularity'):
    np.testing.assert_array_equal(
        batch[key], expected[key].reshape(8, 2, *expected[key].shape[1:]))


def test_order_is_a_function_of_seed_and_epoch(dataset):
  sources, metadata = dataset
  batches = pipeline.Batches(sources['train'], metadata, 8, 8, train=True, seed=3)
  assert _ids(batches.epoch(1)) == _ids(batches.epoch(1))
  assert _ids(batches.epoch(1)) != _ids(batches.epoch(2))
  assert _ids(batches.epoch(1, start_step=2)) == _ids(batches.epoch(1))[2:]


def test_hosts_read_disjoint_halves_of_each_global_batch(dataset):
  sources, metadata = dataset
  hosts = [pipeline.Batches(sources['train'], metadata, 16, 4, train=True,
                            process_index=i, process_count=2) for i in (0, 1)]
  single = pipeline.Batches(sources['train'], metadata, 16, 8, train=True)
  for a, b, whole in zip(hosts[0].epoch(0), hosts[1].epoch(0), single.epoch(0)):
    assert a['meta']['track_id'] + b['meta']['track_id'] == whole['meta']['track_id']


def test_evaluation_covers_every_example_once(dataset):
  sources, metadata = dataset
  split = sources['validation']
  batches = pipeline.Batches(split, metadata, 16, 8, train=False)
  seen = []
  for batch in batches.epoch():
    keep = batch['mask'].reshape(-1) > 0
    seen += list(np.asarray(batch['meta']['track_id'])[keep])
  assert sorted(seen) == sorted(r['track_id'].decode() for r in split)


def test_features_are_standardised_with_train_stats(dataset):
  sources, metadata = dataset
  batches = pipeline.Batches(sources['train'], metadata, 16, 8, train=True)
  width = len(metadata['feature_stats']['mean'])
  features = np.concatenate([b['features'].reshape(-1, width)
                             for b in batches.epoch(0)])
  assert np.all(np.abs(features.mean(axis=0)) < 0.5)
  assert np.all(np.isfinite(features))


def test_genres_map_to_train_vocabulary_with_an_unknown_bucket(dataset):
  sources, metadata = dataset
  vocab = metadata['genre_vocab']
  assert vocab == sorted(set(vocab)) and 'pop' in vocab
  ids = pipeline.genre_ids(['pop', 'polka', vocab[0]], vocab)
  assert ids.tolist() == [vocab.index('pop'), len(vocab), 0]
  batch = next(pipeline.Batches(sources['train'], metadata, 16, 8,
                                train=True).epoch(0))
  assert batch['genre_id'].shape == (8, 2)
  assert [vocab[i] for i in batch['genre_id'].reshape(-1)] == batch['meta']['genre']


def test_batch_not_divisible_by_devices_names_the_flag(dataset):
  sources, metadata = dataset
  with pytest.raises(ValueError, match=r'--batch_size=12 is not divisible by the 8 devices'):
    pipeline.Batches(sources['train'], metadata, 12, 8, train=True)


def test_prefetch_reraises_reader_errors():
  def failing():
    yield 1
    raise OSError('disk gone')
  stream = pipeline.prefetch(failing())
  assert next(stream) == 1
  with pytest.raises(OSError, match='disk gone'):
    next(stream)


class _CountedSource:
  """A split's data source that counts its reads; without_audio drops the
  clips from every record, as a tabular-only dataset stores none."""

  def __init__(self, source, without_audio):
    self._source, self._without_audio, self.reads = source, without_audio, 0

  def __len__(self):
    return len(self._source)

  def _record(self, record):
    return {k: v for k, v in record.items()
            if not (self._without_audio and k == 'audio')}

  def __getitem__(self, index):
    return self._record(self._source[index])

  def __getitems__(self, rows):
    self.reads += 1
    return [self._record(r) for r in self._source.__getitems__(rows)]


def test_batches_hold_the_dtypes_and_shapes_the_devices_expect(dataset):
  sources, metadata = dataset
  batch = next(pipeline.Batches(sources['train'], metadata, 16, 8,
                                train=True).epoch(0))
  assert {k: (v.dtype.name, v.shape) for k, v in batch.items()
          if k != 'meta'} == {
              'audio': ('int16', (8, 2, 8000)),
              'features': ('float32', (8, 2, len(metadata['feature_stats'][
                  'mean']))),
              'genre_id': ('int32', (8, 2)), 'label': ('int32', (8, 2)),
              'popularity': ('float32', (8, 2)), 'mask': ('float32', (8, 2))}


def test_evaluation_reads_the_split_in_order_and_masks_only_the_padding(
    dataset):
  sources, metadata = dataset
  split = sources['validation']
  batches = list(pipeline.Batches(split, metadata, 16, 8, train=False).epoch())
  ids = [i for b in batches for i in b['meta']['track_id']]
  masks = np.concatenate([b['mask'].reshape(-1) for b in batches])
  in_order = [r['track_id'].decode() for r in split]
  assert len(split) % 16  # The last batch is padded.
  assert ids[:len(split)] == in_order
  assert masks.tolist() == [1.0] * len(split) + [0.0] * (
      16 * len(batches) - len(split))


def test_a_training_split_of_exactly_one_batch_trains_one_step(dataset):
  sources, metadata = dataset
  train = sources['train']
  assert len(pipeline.Batches(train, metadata, len(train), 1,
                              train=True)) == 1
  with pytest.raises(errors.DataError, match=(
      f'^--batch_size={len(train) + 1} exceeds the {len(train)} training '
      'examples$')):
    pipeline.Batches(train, metadata, len(train) + 1, 1, train=True)


def test_a_split_read_in_chunks_equals_one_read_of_every_record(dataset):
  sources, metadata = dataset
  split = sources['train']
  whole = pipeline.read_columns([split[i] for i in range(len(split))],
                                metadata)
  chunked = pipeline.read_split(split, metadata, chunk=3)
  assert set(chunked) == set(whole)
  for key in whole:
    np.testing.assert_array_equal(chunked[key], whole[key])


def test_a_split_without_audio_is_read_once_and_one_with_audio_per_batch(
    dataset):
  sources, metadata = dataset
  tabular = _CountedSource(sources['train'], without_audio=True)
  with_audio = _CountedSource(sources['train'], without_audio=False)
  from_memory = pipeline.Batches(tabular, metadata, 16, 8, train=True)
  per_batch = pipeline.Batches(with_audio, metadata, 16, 8, train=True)
  assert (tabular.reads, with_audio.reads) == (1, 0)
  for a, b in zip(from_memory.epoch(1), per_batch.epoch(1), strict=True):
    assert 'audio' not in a
    assert a['meta'] == b['meta']
    for key in ('features', 'genre_id', 'label', 'popularity', 'mask'):
      np.testing.assert_array_equal(a[key], b[key])
  assert (tabular.reads, with_audio.reads) == (1, len(per_batch))


def test_prefetch_passes_every_item_on_none_included():
  assert list(pipeline.prefetch(iter([1, None, 2, None]))) == [1, None, 2,
                                                              None]


def test_a_reader_left_behind_does_not_keep_the_process_alive():
  """Early stopping or an error leaves prefetch's reader blocked on a full
  queue; the process must still exit."""
  code = ('import itertools\nfrom spotipop.data import pipeline\n'
          'stream = pipeline.prefetch(itertools.count())\nnext(stream)\n')
  subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                 timeout=30)
