"""The benchmark scripts run and check their peers, on tiny sizes (no timing asserted)."""

import json
import subprocess
import sys

from conftest import REPO


def _run(script, *args):
  result = subprocess.run([sys.executable, f'benchmarks/{script}', *args],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_stft_benchmark_checks_agreement_and_reports_ratios(tmp_path):
  out = _run('stft.py', '--clips=2', '--seconds=2', '--repeats=1',
             f'--json={tmp_path / "stft.json"}')
  assert 'vs best peer' in out and 'FLOP floor' in out
  with open(tmp_path / 'stft.json') as f:
    results = json.load(f)['results']
  assert {'spotipop (jnp, jit)', 'librosa.stft', 'scipy ShortTimeFFT',
          'jax.scipy.signal.stft'} <= set(results)
  assert all(r['error'] < 1e-4 for r in results.values())


def test_train_benchmark_reports_one_and_eight_devices(tmp_path):
  _run('train.py', '--steps=1', '--pipeline_epochs=1',
       f'--data_dir={tmp_path / "tfds"}', f'--json={tmp_path / "train.json"}')
  with open(tmp_path / 'train.json') as f:
    results = json.load(f)
  assert [r['devices'] for r in results] == [1, 8]
  assert all(r['pipeline_over_train'] > 0 for r in results)
