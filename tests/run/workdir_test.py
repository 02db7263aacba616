"""The run folder: its files, the config it belongs to, and restoring a run's
checkpoint by name or step."""

import json
import os
import pathlib
import types

import jax
import numpy as np
import pytest

from conftest import file_snapshot
from conftest import small_config
from spotipop import errors
from spotipop.model import network
from spotipop.model import train_state
from spotipop.run import checkpointing
from spotipop.run import workdir as workdir_lib

GENRES = ['rock', 'jazz', 'folk']


def _config(**overrides):
  return small_config('manifest.csv', 'tfds', towers='tabular_only',
                      **overrides)


def _builder(tmp_path):
  metadata = {'feature_stats': {'mean': [1.0]}, 'genre_vocab': GENRES,
              'class_counts': {'train': [3, 4]},
              'build_report': {'skipped': 0}}
  return types.SimpleNamespace(data_dir=tmp_path / 'tfds' / 'v1',
                               info=types.SimpleNamespace(metadata=metadata))


def test_the_run_files_hold_the_config_and_the_datasets_record(tmp_path):
  run = tmp_path / 'run'
  workdir_lib.write_run_files(str(run), _config(), _builder(tmp_path))
  assert workdir_lib.read_config(str(run)) == _config()
  with open(run / 'dataset.json') as f:
    assert json.load(f) == {
        'data_dir': str(tmp_path / 'tfds' / 'v1'),
        'feature_stats': {'mean': [1.0]}, 'genre_vocab': GENRES,
        'class_counts': {'train': [3, 4]}, 'build_report': {'skipped': 0}}


def test_a_run_resumed_under_other_settings_is_refused_naming_them(tmp_path):
  run = str(tmp_path / 'run')
  workdir_lib.write_run_files(run, _config(), _builder(tmp_path))
  workdir_lib.write_run_files(run, _config(), _builder(tmp_path))  # The same.
  before = file_snapshot(pathlib.Path(run))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'other settings .*learning_rate: 0.003 != 0.01'):
    workdir_lib.write_run_files(run, _config(learning_rate=0.01),
                                _builder(tmp_path))
  assert file_snapshot(pathlib.Path(run)) == before


def test_the_history_is_one_json_line_per_epoch(tmp_path):
  history = [{'epoch': 1, 'train_loss': 0.5}, {'epoch': 2, 'train_loss': None}]
  workdir_lib.write_history(str(tmp_path), history)
  with open(tmp_path / 'metrics.jsonl') as f:
    assert [json.loads(line) for line in f.read().splitlines()] == history


def test_a_folder_without_a_config_is_not_a_run(tmp_path):
  with pytest.raises(errors.CheckpointError,
                     match=f'{tmp_path} is not a spotipop run: it has no '
                     'config.json'):
    workdir_lib.read_config(str(tmp_path))


def test_reports_go_under_eval_by_split_and_checkpoint():
  assert workdir_lib.eval_dir('runs/a', 'test', 'best') == os.path.join(
      'runs/a', 'eval', 'test-best')


@pytest.fixture(scope='module')
def run_with_checkpoints(tmp_path_factory):
  """A run whose latest/ holds steps 3 and 5 and best/ step 3, each a state
  whose parameters are its step number."""
  run = tmp_path_factory.mktemp('run')
  config = _config()
  workdir_lib.write_run_files(str(run), config, _builder(run))
  model = network.create(config, len(GENRES))
  fresh = train_state.create(config, model, jax.random.key(0), 1)
  ckpts = checkpointing.Checkpoints(str(run))
  for step in (3, 5):
    state = fresh.replace(
        step=np.int32(step),
        params=jax.tree.map(lambda p, s=step: np.full(p.shape, s, p.dtype),
                            fresh.params))
    ckpts.save(checkpointing.LATEST, step, state, {'best_step': 3})
    if step == 3:
      ckpts.save(checkpointing.BEST, step, state, {'best_step': 3},
                 metrics={checkpointing.SELECTION: 0.9})
  ckpts.close()
  return str(run)


@pytest.mark.parametrize('checkpoint, step', [('best', 3), ('latest', 5),
                                              ('3', 3), (5, 5)])
def test_a_checkpoint_is_restored_by_name_or_step(run_with_checkpoints,
                                                  checkpoint, step):
  config, dataset, _, state = workdir_lib.restore_run(run_with_checkpoints,
                                                      checkpoint)
  assert config == _config() and dataset['genre_vocab'] == GENRES
  assert int(state.step) == step
  for leaf in jax.tree.leaves(state.params):
    np.testing.assert_array_equal(leaf, step)


def test_an_unknown_checkpoint_name_is_named(run_with_checkpoints):
  with pytest.raises(errors.CheckpointError,
                     match=r"--checkpoint=newest: use 'best', 'latest' or a "
                     'step number'):
    workdir_lib.restore_run(run_with_checkpoints, 'newest')


def test_a_run_before_its_first_checkpoint_says_so(tmp_path):
  run = str(tmp_path / 'run')
  workdir_lib.write_run_files(run, _config(), _builder(tmp_path))
  with pytest.raises(errors.CheckpointError,
                     match=os.path.join(run, 'checkpoints', 'best') +
                     r': no checkpoint yet \(training saves the first at the '
                     'end of epoch 1\\)'):
    workdir_lib.restore_run(run)
  # Reading created nothing.
  assert sorted(os.listdir(run)) == ['config.json', 'dataset.json']


def test_a_reading_tool_writes_nothing_into_the_run(run_with_checkpoints):
  before = file_snapshot(pathlib.Path(run_with_checkpoints))
  workdir_lib.restore_run(run_with_checkpoints, 'latest')
  assert file_snapshot(pathlib.Path(run_with_checkpoints)) == before

