"""Batches: device shapes, determinism for exact resume, host sharding, padding."""

import numpy as np
import pytest

from conftest import small_config
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
