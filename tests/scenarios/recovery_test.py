"""Runs survive their own recovery: checkpoints are never lost to a tool that
reads them, nor mistaken for corrupt, and a rerun after any failure finishes.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from conftest import fails_in_one_line
from conftest import file_snapshot
from conftest import lock_holder
from conftest import run_module
from conftest import small_flags
from conftest import train_here
from conftest import truncate_checkpoint_state

# A scenario: whole tools and runs, outside the quick tier; one worker runs
# them all (pytest -n 2 --dist loadgroup), so the finished run is made once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('recovery')]

STEPS = 2  # One epoch of 2 steps: step 2 is both the latest and the best.


def _flags(catalogue, data_dir, workdir, *more):
  return [*small_flags(catalogue[0], data_dir), f'--workdir={workdir}',
          '--towers=tabular_only', '--num_epochs=1',
          '--checkpoint_every_steps=1', '--bootstrap=0', *more]


@pytest.fixture(scope='module')
def finished(catalogue, tmp_path_factory):
  """A finished one-epoch run: (flags without --workdir, its workdir)."""
  root = tmp_path_factory.mktemp('recovery')
  workdir = root / 'run'
  train_here(workdir, *_flags(catalogue, root / 'tfds', workdir))
  return root, workdir


def _copy(finished, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(finished[1], workdir)
  return workdir


def test_a_rerun_after_a_lost_latest_save_finishes_every_time(
    catalogue, finished, tmp_path):
  """The best of the last step saved, its latest lost (a full disk then).

  The rerun redoes the step and must not fail on the best it finds already
  saved, on this rerun or any later one.
  """
  workdir = _copy(finished, tmp_path)
  shutil.rmtree(workdir / 'checkpoints' / 'latest' / str(STEPS))
  flags = _flags(catalogue, finished[0] / 'tfds', workdir)
  first = run_module('spotipop.main', *flags)
  assert f'Resumed from step {STEPS - 1}' in first.stderr
  assert (workdir / 'checkpoints' / 'latest' / str(STEPS)).is_dir()
  again = run_module('spotipop.main', *flags)
  assert 'already finished' in again.stderr


def test_reading_tools_leave_an_unreadable_checkpoint_where_it_is(
    finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  for which in ('latest', 'best'):
    truncate_checkpoint_state(workdir / 'checkpoints' / which / str(STEPS))
  before = file_snapshot(workdir / 'checkpoints')
  with open(workdir / 'config.json') as f:
    columns = json.load(f)['data']['feature_columns']
  features = ','.join(f'{c}=1' for c in columns)
  for tool, which, args in (
      ('spotipop.evaluate', 'best', []),
      ('spotipop.evaluate', 'latest', []),
      ('spotipop.predict', str(STEPS), [f'--features={features}'])):
    result = run_module(tool, f'--workdir={workdir}', f'--checkpoint={which}',
                        *args, check=False)
    last = fails_in_one_line(result, tool)
    folder = 'best' if which == 'best' else 'latest'
    assert f'checkpoints/{folder}/{STEPS}: cannot be restored' in last, last
    if folder == 'latest':
      assert f'older steps: [{STEPS - 1}]' in last, last
    assert file_snapshot(workdir / 'checkpoints') == before, (tool, which)


def test_training_sets_an_unreadable_step_aside_each_time_it_meets_one(
    catalogue, finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  latest = workdir / 'checkpoints' / 'latest'
  flags = _flags(catalogue, finished[0] / 'tfds', workdir)
  for aside in (f'corrupt-{STEPS}', f'corrupt-{STEPS}.1'):
    truncate_checkpoint_state(latest / str(STEPS))
    result = run_module('spotipop.main', *flags)
    assert f'moved to {aside}' in result.stderr
    assert f'Resumed from step {STEPS - 1}' in result.stderr
    assert (latest / aside).is_dir() and (latest / str(STEPS)).is_dir()


def test_a_checkpoint_of_another_model_is_refused_and_kept(
    catalogue, finished, tmp_path):
  """Another model's checkpoints under this run: a code or config change.
  The finished run's folder, its config made a wider model's."""
  workdir = _copy(finished, tmp_path)
  config = json.loads((workdir / 'config.json').read_text())
  config['model']['dense_features'] = [32]
  (workdir / 'config.json').write_text(json.dumps(config))
  flags = _flags(catalogue, finished[0] / 'tfds', workdir,
                 '--dense_features=32')
  before = file_snapshot(workdir / 'checkpoints')
  for tool, args in (('spotipop', flags),
                     ('spotipop.evaluate', [f'--workdir={workdir}'])):
    module = 'spotipop.main' if tool == 'spotipop' else tool
    last = fails_in_one_line(run_module(module, *args, check=False), tool)
    assert 'holds another model than this config' in last, last
    assert ('DenseTower_0/Dense_0/kernel (25, 16) (config: (25, 32))'
            in last), last
    assert file_snapshot(workdir / 'checkpoints') == before, tool


def test_a_second_trainer_of_a_run_is_refused(catalogue, finished, tmp_path):
  workdir = _copy(finished, tmp_path)
  holder = lock_holder(workdir / '.spotipop-run.lock')
  try:
    result = run_module('spotipop.main',
                        *_flags(catalogue, finished[0] / 'tfds', workdir),
                        check=False)
  finally:
    holder.kill()
    holder.wait()
  last = fails_in_one_line(result, 'spotipop')
  assert last == (f'spotipop: --workdir={workdir} is in use by process '
                  f'{holder.pid} on {os.uname().nodename} (lock '
                  f'{workdir}/.spotipop-run.lock); wait for it to finish or '
                  'stop it')


def test_two_builds_of_one_dataset_at_once_both_finish(catalogue, tmp_path):
  data_dir = tmp_path / 'tfds'
  flags = [*small_flags(catalogue[0], data_dir)]
  builds = [subprocess.Popen([sys.executable, '-m', 'spotipop.build', *flags],
                             cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
  outputs = [''.join(b.communicate(timeout=600)) for b in builds]
  for build, output in zip(builds, outputs):
    assert build.returncode == 0, output[-3000:]
  # One of them built it; the other waited and found it built.
  assert sorted('downloaded and prepared' in out for out in outputs) == [
      False, True]
  assert not list(data_dir.rglob('incomplete.*'))
