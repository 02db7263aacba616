"""A run killed with SIGKILL mid-epoch resumes to exactly the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import REPO
from conftest import run_module
from conftest import small_flags
from conftest import tensorboard_scalars
from spotipop import workdir as workdir_lib

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow

EPOCHS = 20  # 40 steps: the kill lands long before the end.


def _flags(catalogue, tmp_path, workdir):
  return [*small_flags(catalogue[0], tmp_path / 'tfds'), f'--workdir={workdir}',
          f'--num_epochs={EPOCHS}', '--checkpoint_every_steps=1',
          '--early_stopping_patience=1000']


def _latest_steps(workdir):
  folder = os.path.join(workdir, 'checkpoints', 'latest')
  if not os.path.isdir(folder):
    return []
  return [int(name) for name in os.listdir(folder) if name.isdigit()]


def test_killed_run_resumes_exactly(catalogue, tmp_path):
  reference = tmp_path / 'reference'
  run_module('spotipop.main', *_flags(catalogue, tmp_path, reference))

  killed = tmp_path / 'killed'
  process = subprocess.Popen(
      [sys.executable, '-m', 'spotipop.main',
       *_flags(catalogue, tmp_path, killed)],
      cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while max(_latest_steps(killed), default=0) < 5:
    assert process.poll() is None, 'the run ended before it could be killed'
    assert time.time() < deadline
    time.sleep(0.02)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_at = max(_latest_steps(killed))
  assert killed_at < 2 * EPOCHS

  resumed = run_module('spotipop.main', *_flags(catalogue, tmp_path, killed))
  assert f'Resumed from step {killed_at}' in resumed.stderr

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
