"""The benchmark scripts run and check their peers, on tiny sizes (no timing asserted)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from conftest import SHARED_DATA
from conftest import SMALL_MODEL_FLAGS

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow


# The tests' small model, after the scripts' own flags: they run as they do at
# full size, compiling a fraction of the default model.
SMALL_MODEL = ['--', *SMALL_MODEL_FLAGS]


def _invoke(script, *args, env=None):
  """`python benchmarks/script args` from the repository, its environment
  this one's updated by env."""
  return subprocess.run([sys.executable, f'benchmarks/{script}', *args],
                        cwd=REPO, capture_output=True, text=True,
                        timeout=600, check=False,
                        env=dict(os.environ, **(env or {})))


def _run(script, *args):
  result = _invoke(script, *args)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_stft_benchmark_checks_agreement_and_reports_ratios(tmp_path):
  out = _run('stft.py', '--clips=2', '--seconds=2', '--repeats=1',
             f'--json={tmp_path / "stft.json"}')
  assert 'vs best peer' in out and 'FLOP floor' in out
  with open(tmp_path / 'stft.json') as f:
    results = json.load(f)['results']
  # librosa and torch are peers when installed (.[bench]).
  assert {'spotipop (jnp, jit)', 'scipy ShortTimeFFT',
          'jax.scipy.signal.stft'} <= set(results)
  assert all(r['error'] < 1e-4 for r in results.values())


def test_train_benchmark_reports_one_and_eight_devices(tmp_path):
  # No disk read: as root it drops the page cache under the other tests.
  _run('train.py', '--steps=1', '--pipeline_epochs=1', '--batch_size=8',
       '--no-disk_read', f'--data_dir={tmp_path / "tfds"}',
       f'--json={tmp_path / "train.json"}', *SMALL_MODEL)
  with open(tmp_path / 'train.json') as f:
    results = json.load(f)
  assert [r['devices'] for r in results] == [1, 8]
  assert all(r['pipeline_over_train'] > 0 for r in results)


def test_conv_grads_benchmark_checks_agreement_on_every_layer(tmp_path):
  out = _run('conv_grads.py', '--settings=default', '--batch_size=1',
             '--repeats=1', f'--json={tmp_path / "conv.json"}')
  assert 'vs XLA' in out and 'all layers' in out
  with open(tmp_path / 'conv.json') as f:
    results = json.load(f)
  assert [r['shape'][3:] for r in results] == [
      [1, 16], [16, 32], [32, 64], [64, 128]]
  assert all(r['error'] < 1e-4 for r in results)


def test_beam_build_benchmark_checks_both_runners_build_the_same_data(
    tmp_path):
  # No worker processes: Beam's are the slowest to start of the smoke runs,
  # and beam_catalog_test builds on them.
  _run('beam_build.py', '--tracks=12', '--distinct=3', '--workers=',
       f'--json={tmp_path / "beam.json"}')
  with open(tmp_path / 'beam.json') as f:
    results = json.load(f)
  builds = results['builds']
  assert [(b['runner'], b['workers']) for b in builds] == [
      ('local', 0), ('beam', 0)]
  assert not any('error' in b for b in builds)  # Each held the same data.
  assert results['serial_seconds'] is None


def test_xla_flags_benchmark_checks_the_tests_compute_what_users_do(tmp_path):
  # The tests' small model with one conv layer: every kind of layer, compiled
  # under both flag sets in fresh processes.
  out = _run('xla_flags.py', f'--json={tmp_path / "flags.json"}',
             *SMALL_MODEL, '--conv_channels=8')
  assert "as fast as XLA's defaults" in out
  with open(tmp_path / 'flags.json') as f:
    results = json.load(f)
  assert results['same'] and results['compile_ratio'] > 0
  assert set(results['results']) == {"XLA's defaults", "the tests' flags"}


PAPER_PREDICTIONS = os.path.join(SHARED_DATA,
                                 'falah2025', 'paper_predictions.csv')


@pytest.mark.skipif(not os.path.exists(PAPER_PREDICTIONS),
                    reason=f'{PAPER_PREDICTIONS} is absent (the shared data '
                    'beside the repository)')
def test_paper_claims_put_the_published_f1_beside_the_class_prior(tmp_path):
  out = _run('paper_claims.py', f'--json={tmp_path / "claims.json"}')
  assert '| always popular |' in out
  with open(tmp_path / 'claims.json') as f:
    claims = json.load(f)
  rows = claims['predictors']
  authors, prior = rows["authors' predictions"], rows['always popular']
  # The published figures: F1 0.978 and accuracy 0.957 on 1,967 tracks, one
  # true negative; the prior's F1 is higher.
  assert authors['count'] == prior['count'] == 1967
  assert round(authors['f1'], 3) == 0.978 and round(prior['f1'], 3) == 0.979
  assert round(authors['accuracy'], 3) == 0.957
  assert prior['mcc'] == 0 and abs(authors['mcc']) < 0.1
  assert round(authors['mae'], 2) == 9.50
  # The 0.978 vs 0.979 comparison carries its noise: not resolved.
  f1 = claims['comparisons']['f1: authors - always popular']
  assert f1['interval'][0] < 0 < f1['interval'][1] + 1e-9
  assert f1['verdict'] == 'not resolved'
  assert authors['intervals']['f1'][0] < authors['f1'] < authors[
      'intervals']['f1'][1]


def test_train_step_benchmark_checks_the_torch_network_is_the_same(tmp_path):
  pytest.importorskip('torch', reason="the PyTorch peer needs torch "
                      "(pip install -e '.[bench]')")
  out = _run('train_step.py', '--settings=default', '--steps=1',
             '--devices=1,2', f'--json={tmp_path / "step.json"}')
  assert 'vs torch' in out and 'matmul peak' in out
  with open(tmp_path / 'step.json') as f:
    results = json.load(f)['results']
  assert [r['devices'] for r in results] == [1, 2]
  for result in results:  # Same parameters, same logits, a rate for each.
    assert result['parameters'] > 0 and result['logit_difference'] < 1e-3
    assert result['spotipop_examples_per_second'] > 0
    assert result['torch_examples_per_second'] > 0 and result['ratio'] > 0


def test_loader_benchmark_runs_grain_beside_spotipop(tmp_path):
  pytest.importorskip('grain', reason="the Grain peer needs grain "
                      "(pip install -e '.[bench]')")
  _run('loader_peers.py', '--epochs=2', '--workers=1',
       f'--data_dir={tmp_path / "tfds"}', f'--json={tmp_path / "loader.json"}')
  with open(tmp_path / 'loader.json') as f:
    results = json.load(f)
  assert set(results) == {'spotipop Batches', 'grain, in-process',
                          'grain, 1 worker processes'}
  assert all(rate > 0 for rate in results.values())


def test_startup_benchmark_times_a_tool_beside_its_packages(tmp_path):
  out = _run('startup.py', '--repeats=1', '--tools=spotipop.predict',
             f'--json={tmp_path / "startup.json"}')
  assert 'vs packages alone' in out
  with open(tmp_path / 'startup.json') as f:
    results = json.load(f)
  assert results['packages'] > 0
  assert list(results['tools']) == ['spotipop.predict']
  assert results['tools']['spotipop.predict']['seconds'] > 0


def test_scaling_benchmark_fits_build_time_and_reports_memory(tmp_path):
  out = _run('scaling.py', '--sizes=60,120', '--distinct=20',
             '--predict_rows=50', f'--json={tmp_path / "scaling.json"}',
             *SMALL_MODEL)
  assert 's per 1,000 tracks' in out
  with open(tmp_path / 'scaling.json') as f:
    results = json.load(f)
  assert [b['tracks'] for b in results['builds']] == [60, 120]
  assert all(b['seconds'] > 0 and b['peak_rss_mb'] > 0
             for b in results['builds'])
  assert results['prediction']['tracks_per_second'] > 0


def test_descriptors_benchmark_builds_and_checks_centre_reads(tmp_path):
  out = _run('descriptors.py', '--tracks=1', '--seconds=2', '--repeats=1',
             '--build_tracks=7', '--build_seconds=3',
             '--build_clip_seconds=2',
             f'--json={tmp_path / "descriptors.json"}')
  assert 'spotipop descriptors' in out and 'reading the centre' in out
  with open(tmp_path / 'descriptors.json') as f:
    results = json.load(f)
  assert results['spotipop_tracks_per_s'] > 0
  # The blocks agreed with the whole-clip FFT, or the script fails.
  assert set(results['k_weighting_seconds']) == {
      f'{name}_{clock}' for name in ('blocks', 'whole_clip_fft')
      for clock in ('wall', 'cpu')}
  assert all(results[f'build_descriptors_{on}'][key] > 0 for on in ('on', 'off')
             for key in ('tracks_per_s', 'cpu_s_per_track'))
  # The centre read's clip equals the whole decode's, or the script fails.
  assert set(results['clip_decode_tracks_per_s']) == {'whole', 'centre'}
  # librosa and pyloudnorm are the peer when installed (.[bench]).
  if 'ratio' in results:
    assert results['tempo']['spotipop']['of'] == 14


def _refused(script, env, *args):
  """The one line a benchmark ends with when it cannot run: no traceback,
  exit status 1."""
  result = _invoke(script, *args, env=env)
  assert result.returncode == 1, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  return result.stderr.strip().splitlines()[-1]


DEVICE_SCRIPTS = ['descriptors.py', 'stft.py', 'train.py', 'train_step.py']


@pytest.mark.parametrize('script', DEVICE_SCRIPTS)
def test_a_gpu_the_environment_rules_out_is_refused_before_any_timing(script):
  """A JAX_PLATFORMS left in the environment would time the CPU and print
  its figures as the GPU's."""
  assert _refused(script, {'JAX_PLATFORMS': 'cpu'}, '--device=gpu') == (
      '--device=gpu: JAX_PLATFORMS=cpu in the environment gives JAX the '
      'cpu; unset it')


@pytest.mark.parametrize('script', DEVICE_SCRIPTS)
def test_a_device_no_backend_gives_is_named_in_one_line(script):
  # A platform no JAX has stands for a GPU this machine lacks: JAX fails its
  # backend's start the same way.
  assert _refused(script, {'JAX_PLATFORMS': 'nonexistent'},
                  '--device=gpu') == (
      '--device=gpu: JAX has no GPU here (JAX_PLATFORMS=nonexistent starts '
      'no backend); on an NVIDIA GPU install jax[cuda12]')


@pytest.mark.parametrize('script,module,role', [
    ('train_step.py', 'torch', 'the PyTorch peer'),
    ('loader_peers.py', 'grain', 'the Grain peer'),
])
def test_a_missing_peer_is_named_in_one_line(tmp_path, script, module, role):
  # The peer planted as a package that fails to import, installed or not.
  (tmp_path / module).mkdir()
  (tmp_path / module / '__init__.py').write_text(
      f'raise ImportError("No module named {module!r}")\n')
  path = os.pathsep.join(filter(None, [str(tmp_path),
                                       os.environ.get('PYTHONPATH')]))
  assert _refused(script, {'PYTHONPATH': path}) == (
      f"{role} needs {module}, which does not import here (No module named "
      f"'{module}'): pip install -e '.[bench]'")
