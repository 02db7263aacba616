"""A split's batches for training and for evaluation, on one host or several."""

import json
import math

import jax
import numpy as np
import pytest

from spotipop.data import datasets
from spotipop.model import inference
from spotipop.run import workdir as workdir_lib

# The untrained tabular run's tests share a worker (conftest.untrained_run).
on_the_untrained_run = pytest.mark.xdist_group('untrained')


def _ids(batch):
  return [str(t) for t, m in zip(batch['meta']['track_id'],
                                 batch['mask'].reshape(-1)) if m > 0]


@on_the_untrained_run
@pytest.mark.parametrize('processes', [1, 2])
def test_training_shuffles_by_the_seed_and_evaluation_reads_every_track(
    untrained_run, monkeypatch, processes):
  """Training: whole batches only, in the order the run's seed draws, each
  host its share of each batch. Evaluation: every track in order, read
  whole by every host (reports are computed on host 0)."""
  monkeypatch.setattr(jax, 'process_count', lambda: processes)
  monkeypatch.setattr(jax, 'process_index', lambda: processes - 1)
  config = workdir_lib.read_config(str(untrained_run))
  builder = datasets.load(json.loads(
      (untrained_run / 'dataset.json').read_text())['data_dir'])
  ids = [str(t) for t in datasets.read_tabular(builder, 'train')['track_id']]
  size = config.train.batch_size
  train = inference.split_batches(builder, config, 'train', train=True)
  assert len(train) == len(ids) // size
  order = np.random.default_rng([config.train.seed, 0]).permutation(len(ids))
  share = size // processes
  first = order[:size][(processes - 1) * share:processes * share]
  assert _ids(next(iter(train.epoch()))) == [ids[i] for i in first]
  evaluated = inference.split_batches(builder, config, 'train', train=False)
  assert len(evaluated) == math.ceil(len(ids) / size)
  assert [t for batch in evaluated.epoch() for t in _ids(batch)] == ids
