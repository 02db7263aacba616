"""The command-line tools, run as a user runs them, on 8 CPU devices."""

import json
import os

import numpy as np
import pytest

from conftest import run_module
from conftest import small_flags
from spotipop import predict
from spotipop.data import manifest

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def trained(catalogue, tmp_path_factory):
  """A workdir trained by `python -m spotipop.main` on the small catalogue."""
  root = tmp_path_factory.mktemp('cli')
  workdir = root / 'run'
  result = run_module('spotipop.main', *small_flags(catalogue[0], root / 'tfds'),
                      f'--workdir={workdir}', '--num_epochs=3')
  return workdir, result


def test_main_trains_checkpoints_and_reports(trained):
  workdir, result = trained
  assert 'test: F1' in result.stdout
  assert 'epoch 3/3' in result.stderr  # Progress is logged per epoch.
  with open(workdir / 'config.json') as f:
    config = json.load(f)
  assert config['model']['n_mels'] == 32  # The resolved flags, written out.
  assert os.listdir(workdir / 'checkpoints' / 'best')
  report_dir = workdir / 'eval' / 'test-best'
  with open(report_dir / 'report.json') as f:
    report = json.load(f)
  overall = report['overall']
  assert {'accuracy', 'precision', 'recall', 'f1', 'roc_auc'} <= set(overall)
  assert 0 <= overall['f1'] <= 1 and overall['count'] > 0
  assert report['per_genre'] and report['per_release_era']
  assert sum(g['count'] for g in report['per_genre'].values()) == overall['count']
  for name in ('roc.png', 'confusion.png'):
    assert (report_dir / name).read_bytes()[:8] == PNG_MAGIC


def test_evaluate_restores_a_checkpoint(trained):
  workdir, _ = trained
  result = run_module('spotipop.evaluate', f'--workdir={workdir}',
                      '--split=validation', '--checkpoint=latest')
  overall = json.loads(result.stdout)
  assert overall['count'] > 0
  assert (workdir / 'eval' / 'validation-latest' / 'predictions.csv').exists()


def test_predict_scores_new_tracks(trained, catalogue):
  workdir, _ = trained
  manifest_path, folder = catalogue
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--tracks={manifest_path}')
  lines = result.stdout.strip().splitlines()
  assert len(lines) == 48
  probability = float(lines[0].split('P(popular)=')[1].split()[0])
  assert 0 <= probability <= 1

  with open(workdir / 'config.json') as f:
    columns = json.load(f)['data']['feature_columns']
  features = ','.join(f'{c}=1' for c in columns)
  audio = folder / 'audio' / 'demo0000.wav'
  single = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--audio={audio}', '--genre=jazz',
                      f'--features={features}')
  assert 'P(popular)=' in single.stdout
  bad = run_module('spotipop.predict', f'--workdir={workdir}',
                   f'--audio={audio}', f'--features={features},energy=nan',
                   check=False)
  assert bad.returncode != 0 and 'energy' in bad.stderr


def test_unknown_flag_is_named(tmp_path):
  result = run_module('spotipop.main', f'--workdir={tmp_path}',
                      '--learnin_rate=0.1', check=False)
  assert result.returncode != 0
  assert 'learnin_rate' in result.stderr


def test_batch_not_divisible_by_devices_is_named(catalogue, tmp_path):
  result = run_module('spotipop.main', *small_flags(catalogue[0], tmp_path),
                      f'--workdir={tmp_path / "run"}', '--batch_size=12',
                      check=False)
  assert result.returncode != 0
  assert '--batch_size=12 is not divisible by the 8 devices' in result.stderr


def test_every_experiment_flagfile_parses(tmp_path):
  experiments = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                             'experiments')
  for name in sorted(os.listdir(experiments)):
    # --towers=bogus stops the run right after flag parsing and validation.
    result = run_module('spotipop.main', f'--flagfile=experiments/{name}',
                        '--towers=bogus', check=False)
    assert '--towers must be' in result.stderr, (name, result.stderr[-2000:])


def test_predictor_scores_in_chunks_like_one_batch(trained, catalogue):
  workdir, _ = trained
  predictor = predict.Predictor(str(workdir))
  tracks = manifest.read(catalogue[0], predictor.feature_columns)[:11]
  args = ([t.audio_path for t in tracks], [t.features for t in tracks],
          [t.genre for t in tracks])
  whole_p, whole_s = predictor(*args, chunk=16)
  chunked_p, chunked_s = predictor(*args, chunk=4)
  assert whole_p.shape == chunked_p.shape == (11,)
  np.testing.assert_allclose(chunked_p, whole_p, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(chunked_s, whole_s, rtol=1e-5, atol=1e-4)


def test_bad_manifest_stops_with_the_line_and_column(catalogue, tmp_path):
  manifest_path, folder = catalogue
  with open(manifest_path) as f:
    lines = f.read().splitlines()
  header = lines[0].split(',')
  row = lines[5].split(',')
  row[header.index('energy')] = 'nan'
  bad = folder / 'bad_manifest.csv'
  bad.write_text('\n'.join([lines[0], *lines[1:5], ','.join(row)]) + '\n')
  result = run_module('spotipop.main', *small_flags(bad, tmp_path),
                      f'--workdir={tmp_path / "run"}', check=False)
  assert result.returncode != 0
  assert "bad_manifest.csv:6: column 'energy' is 'nan'" in result.stderr
  assert 'Traceback' not in result.stderr
