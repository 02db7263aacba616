"""A run killed with SIGKILL mid-epoch resumes to exactly the uninterrupted result."""

import json
import os
import signal

import jax
import numpy as np
import pytest

from conftest import run_module
from conftest import small_flags
from conftest import tensorboard_scalars
from conftest import train_here
from spotipop import errors
from spotipop.run import workdir as workdir_lib

# A scenario: whole tools and runs, outside the quick tier; one worker runs
# them all (pytest -n 2 --dist loadgroup), so the reference run is made once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('resume')]

EPOCHS = 4  # 8 steps of 2 an epoch.
KILLED_AT = 5  # Mid-epoch, after that step's checkpoint.


def _flags(catalogue, tmp_path, workdir):
  return [*small_flags(catalogue[0], tmp_path / 'tfds'), f'--workdir={workdir}',
          f'--num_epochs={EPOCHS}', '--checkpoint_every_steps=1',
          '--early_stopping_patience=1000', '--bootstrap=0']


@pytest.fixture(scope='module')
def reference(catalogue, tmp_path_factory):
  """The uninterrupted run (in this process: the same compiled steps)."""
  folder = tmp_path_factory.mktemp('reference')
  workdir = folder / 'run'
  train_here(workdir, *_flags(catalogue, folder, workdir))
  return folder, workdir


@pytest.mark.parametrize('stop', ['SIGKILL', 'SIGTERM'])
def test_a_stopped_run_resumes_exactly(catalogue, reference, stop):
  """kill -9 (a crash) and SIGTERM (a cluster's preemption) alike.

  Ctrl-C (SIGINT) takes SIGTERM's path: preemption_test.py checks both reach it.
  """
  folder, reference = reference
  killed = folder / f'stopped_by_{stop}'
  flags = _flags(catalogue, folder, killed)
  if stop != 'SIGKILL':  # No periodic checkpoint: the signal must save one.
    flags.append('--checkpoint_every_steps=0')
  died = run_module('spotipop.main', *flags,
                    signal_at_step=f'{KILLED_AT}:{stop}',
                    check=False)
  if stop == 'SIGKILL':
    assert died.returncode == -signal.SIGKILL
  else:
    assert died.returncode == errors.Interrupted.exit_status, died.stderr[-3000:]
    assert 'Traceback' not in died.stderr
    assert died.stderr.strip().splitlines()[-1] == (
        f'spotipop: interrupted by {stop} at step {KILLED_AT}, which is saved; '
        'run the same command to resume')
  steps = sorted(int(name) for name in
                 os.listdir(killed / 'checkpoints' / 'latest') if name.isdigit())
  assert steps[-1] == KILLED_AT

  resumed = run_module('spotipop.main', *flags)
  assert f'Resumed from step {KILLED_AT}' in resumed.stderr

  _, _, _, expected = workdir_lib.restore_run(str(reference), 'latest')
  _, _, _, actual = workdir_lib.restore_run(str(killed), 'latest')
  assert int(actual.step) == int(expected.step) == 2 * EPOCHS
  jax.tree.map(np.testing.assert_array_equal, actual.params, expected.params)
  jax.tree.map(np.testing.assert_array_equal, actual.opt_state,
               expected.opt_state)
  # The per-epoch record matches too, the killed epoch's train loss included
  # (examples/s measures this machine's speed, not the run).
  assert _history(killed) == _history(reference)
  # So do the TensorBoard curves, once the resumed run's purge is applied.
  curves, expected_curves = (tensorboard_scalars(str(w))
                             for w in (killed, reference))
  for tag in ('train/loss', 'train/learning_rate', 'validation/roc_auc'):
    assert curves[tag] == expected_curves[tag], tag


def _history(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  for record in records:
    del record['examples_per_second']
  return records
