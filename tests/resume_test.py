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
from spotipop import faults
from spotipop import workdir as workdir_lib

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow

EPOCHS = 4  # 8 steps of 2 an epoch.
KILLED_AT = 5  # Mid-epoch, after that step's checkpoint.


def _flags(catalogue, tmp_path, workdir):
  return [*small_flags(catalogue[0], tmp_path / 'tfds'), f'--workdir={workdir}',
          f'--num_epochs={EPOCHS}', '--checkpoint_every_steps=1',
          '--early_stopping_patience=1000', '--bootstrap=0']


def test_killed_run_resumes_exactly(catalogue, tmp_path):
  reference = tmp_path / 'reference'
  run_module('spotipop.main', *_flags(catalogue, tmp_path, reference))

  killed = tmp_path / 'killed'
  died = run_module('spotipop.main', *_flags(catalogue, tmp_path, killed),
                    env={faults.KILL_AFTER_STEP: str(KILLED_AT)}, check=False)
  assert died.returncode == -signal.SIGKILL
  steps = sorted(int(name) for name in
                 os.listdir(killed / 'checkpoints' / 'latest') if name.isdigit())
  assert steps[-1] == KILLED_AT

  resumed = run_module('spotipop.main', *_flags(catalogue, tmp_path, killed))
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
