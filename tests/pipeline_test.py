"""Batches: device shapes, determinism for exact resume, host sharding, padding."""

import numpy as np
import pytest

from conftest import small_config
from spotipop.data import catalog
from spotipop.data import pipeline


@pytest.fixture(scope='module')
def dataset(catalogue, tmp_path_factory):
  config = small_config(catalogue[0], tmp_path_factory.mktemp('tfds'))
  builder = catalog.build(config.data)
  return builder.as_data_source(), builder.info.metadata['feature_stats']


def _ids(batches):
  return [tuple(b['meta']['track_id']) for b in batches]


def test_train_batches_are_device_shaped(dataset):
  sources, stats = dataset
  batches = pipeline.Batches(sources['train'], stats, 16, 8, train=True)
  batch = next(batches.epoch(0))
  assert batch['audio'].shape == (8, 2, 8000)
  assert batch['features'].shape[:2] == (8, 2)
  assert batch['mask'].all() and len(batches) == len(sources['train']) // 16


def test_order_is_a_function_of_seed_and_epoch(dataset):
  sources, stats = dataset
  batches = pipeline.Batches(sources['train'], stats, 8, 8, train=True, seed=3)
  assert _ids(batches.epoch(1)) == _ids(batches.epoch(1))
  assert _ids(batches.epoch(1)) != _ids(batches.epoch(2))
  assert _ids(batches.epoch(1, start_step=2)) == _ids(batches.epoch(1))[2:]


def test_hosts_read_disjoint_halves_of_each_global_batch(dataset):
  sources, stats = dataset
  hosts = [pipeline.Batches(sources['train'], stats, 16, 4, train=True,
                            process_index=i, process_count=2) for i in (0, 1)]
  single = pipeline.Batches(sources['train'], stats, 16, 8, train=True)
  for a, b, whole in zip(hosts[0].epoch(0), hosts[1].epoch(0), single.epoch(0)):
    assert a['meta']['track_id'] + b['meta']['track_id'] == whole['meta']['track_id']


def test_evaluation_covers_every_example_once(dataset):
  sources, stats = dataset
  split = sources['validation']
  batches = pipeline.Batches(split, stats, 16, 8, train=False)
  seen = []
  for batch in batches.epoch():
    keep = batch['mask'].reshape(-1) > 0
    seen += list(np.asarray(batch['meta']['track_id'])[keep])
  assert sorted(seen) == sorted(r['track_id'].decode() for r in split)


def test_features_are_standardised_with_train_stats(dataset):
  sources, stats = dataset
  batches = pipeline.Batches(sources['train'], stats, 16, 8, train=True)
  features = np.concatenate([b['features'].reshape(-1, len(stats['mean']))
                             for b in batches.epoch(0)])
  assert np.all(np.abs(features.mean(axis=0)) < 0.5)
  assert np.all(np.isfinite(features))


def test_batch_not_divisible_by_devices_names_the_flag(dataset):
  sources, stats = dataset
  with pytest.raises(ValueError, match=r'--batch_size=12 is not divisible by the 8 devices'):
    pipeline.Batches(sources['train'], stats, 12, 8, train=True)


def test_prefetch_reraises_reader_errors():
  def failing():
    yield 1
    raise OSError('disk gone')
  stream = pipeline.prefetch(failing())
  assert next(stream) == 1
  with pytest.raises(OSError, match='disk gone'):
    next(stream)
