"""The command-line tools, run as a user runs them, on 8 CPU devices."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from absl import flags
import numpy as np
import pytest

import jamendo_server
from conftest import PNG_MAGIC
from conftest import REPO
from conftest import experiment_config
from conftest import fails_in_one_line
from conftest import file_snapshot
from conftest import run_module
from conftest import small_flags
from conftest import write_manifest
from spotipop import errors
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.data import demo_catalogue
from spotipop.data import manifest
from spotipop.evaluation import run_comparison
from spotipop.evaluation import scorecard
from spotipop.prediction import new_tracks

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow
# The tests of the session's trained run (explain_test's too) share a worker,
# so it is built once.
on_the_trained_run = pytest.mark.xdist_group('trained')

def _strict_json(path):
  """Parses a JSON file, refusing NaN/Infinity tokens (invalid JSON)."""
  def refuse(token):
    raise AssertionError(f'{path}: {token} is not valid JSON')
  with open(path) as f:
    return json.load(f, parse_constant=refuse)


@on_the_trained_run
def test_main_trains_checkpoints_and_reports(trained):
  workdir, result = trained
  assert 'epoch 3/3' in result.stderr  # Progress is logged per epoch.
  # The console shows the model beside its baselines, on the test split.
  for row in ('| spotipop |', '| GBDT (LightGBM) |', '| always popular |',
              '| train prior |', '| train mean popularity |'):
    assert row in result.stdout
  assert 'threshold' in result.stdout and 'on validation' in result.stdout
  with open(workdir / 'config.json') as f:
    config = json.load(f)
  assert config['model']['n_mels'] == 32  # The resolved flags, written out.
  assert os.listdir(workdir / 'checkpoints' / 'best')
  report_dir = workdir / 'eval' / 'test-best'
  report = _strict_json(report_dir / 'report.json')
  overall = report['overall']
  assert {'accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'mcc',
          'balanced_accuracy', 'average_precision', 'brier', 'mae', 'rmse',
          'r2', 'spearman', 'threshold'} <= set(overall)
  assert 0 <= overall['f1'] <= 1 and overall['count'] > 0
  assert report['threshold']['chosen_on'] == 'validation'
  assert report['threshold']['value'] == overall['threshold']
  baselines = report['baselines']
  assert baselines['always_popular']['mcc'] == 0
  assert baselines['train_prior']['roc_auc'] == 0.5
  # The mean popularity is a score baseline only.
  mean_popularity = baselines['train_mean_popularity']
  assert set(mean_popularity) == {'mae', 'rmse', 'r2', 'spearman', 'intervals'}
  assert set(mean_popularity['intervals']) == {'mae', 'rmse', 'r2', 'spearman'}
  assert report['bootstrap']['resamples'] == 1000
  assert set(report['comparisons']) == set(baselines)
  assert 0 <= baselines['gbdt']['roc_auc'] <= 1
  assert sum(b['count'] for b in report['calibration']) == overall['count']
  assert report['per_genre'] and report['per_release_era']
  assert sum(g['count'] for g in report['per_genre'].values()) == overall['count']
  for name in ('roc.png', 'confusion.png', 'calibration.png'):
    assert (report_dir / name).read_bytes()[:8] == PNG_MAGIC


@on_the_trained_run
def test_evaluate_restores_a_checkpoint(trained):
  workdir, _ = trained
  result = run_module('spotipop.evaluate', f'--workdir={workdir}',
                      '--split=validation', '--checkpoint=latest',
                      '--bootstrap=100', '--bootstrap_seed=3')
  assert result.stdout.startswith('validation split')
  assert '| GBDT (LightGBM) |' in result.stdout
  report = _strict_json(workdir / 'eval' / 'validation-latest' / 'report.json')
  assert report['overall']['count'] > 0
  assert (report['bootstrap']['resamples'], report['bootstrap']['seed']) == (
      100, 3)
  assert report['label'] == 'popular: popularity >= 50 (a 0-100 score)'
  assert (workdir / 'eval' / 'validation-latest' / 'predictions.csv').exists()


@on_the_trained_run
def test_report_prints_each_runs_test_table_and_names_a_missing_one(trained,
                                                                   tmp_path):
  workdir, _ = trained
  with open(workdir / 'eval' / 'test-best' / 'report.json') as f:
    summary = json.load(f)
  section = (f'### {workdir.name}\n\n{scorecard.headline(summary)}\n\n'
             f'{scorecard.table(scorecard.rows(summary))}\n\n')
  out = run_module('spotipop.report', str(workdir), f'{workdir}/').stdout
  assert out == section * 2  # Named by the folder, a trailing / or not.
  missing = run_module('spotipop.report', str(workdir), str(tmp_path),
                       check=False)
  fails_in_one_line(missing, 'spotipop.report',
                    str(tmp_path / 'eval' / 'test-best' / 'report.json'))
  fails_in_one_line(run_module('spotipop.report', check=False),
                    'spotipop.report', 'usage: python -m spotipop.report')


@on_the_trained_run
def test_compare_prints_the_paired_table_and_refuses_bad_requests(trained):
  workdir, _ = trained
  specs = [f'{workdir}:model', f'{workdir}:gbdt']
  out = run_module('spotipop.compare', *specs, '--bootstrap=100',
                   '--bootstrap_seed=2').stdout
  assert out == run_comparison.table(
      run_comparison.compare(specs, 100, 2)) + '\n'
  for args, names in (([specs[0]], ['usage: python -m spotipop.compare']),
                      ([*specs, '--bootstrap=0'], ['--bootstrap',
                                                   'needs resamples']),
                      ([*specs, '--bootstrap=3'], ['--bootstrap', 'not 3'])):
    fails_in_one_line(run_module('spotipop.compare', *args, check=False),
                      'spotipop.compare', *names)


def test_demo_writes_the_catalogue_of_its_flags(tmp_path):
  out = tmp_path / 'demo'
  result = run_module('spotipop.demo', f'--out={out}', '--num_tracks=3',
                      '--sample_rate=8000', '--seed=4')
  assert result.stdout == f'wrote {out}/manifest.csv\n'
  expected = demo_catalogue.write_catalogue(str(tmp_path / 'here'), 3, 8000, 4)
  assert (out / 'manifest.csv').read_text() == open(expected).read()
  fails_in_one_line(run_module('spotipop.demo', f'--out={out}',
                               '--num_tracks=0', check=False),
                    'spotipop.demo', '--num_tracks')


@on_the_trained_run
@pytest.mark.parametrize('tool, folder', [('evaluate', 'eval'),
                                          ('explain', 'explain')])
def test_a_run_whose_output_folder_cannot_be_written_is_named_before_work(
    trained, tmp_path, tool, folder):
  """A file where the output folder goes stands for any folder that cannot
  be made (a read-only mount); --out puts the files elsewhere."""
  workdir, _ = trained
  run = tmp_path / 'run'
  shutil.copytree(workdir, run)
  blocked = run / folder / 'validation-latest'
  shutil.rmtree(blocked, ignore_errors=True)  # Another test's report.
  blocked.parent.mkdir(exist_ok=True)
  blocked.write_text('in the way')
  before = file_snapshot(run)
  flags_ = (f'--workdir={run}', '--split=validation', '--checkpoint=latest',
            *(('--steps=2', '--repeats=1') if tool == 'explain' else ()))
  refused = run_module(f'spotipop.{tool}', *flags_, check=False)
  fails_in_one_line(refused, f'spotipop.{tool}', str(blocked),
                    'a file, not a folder', '--out=')
  if tool == 'evaluate':  # explain's --out is the same folder argument.
    out = tmp_path / 'elsewhere'
    run_module(f'spotipop.{tool}', *flags_, f'--out={out}')
    assert 'report.json' in os.listdir(out)
  assert file_snapshot(run) == before


@on_the_trained_run
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


@on_the_trained_run
def test_predict_scores_the_good_rows_and_names_each_bad_one(trained, catalogue,
                                                           tmp_path):
  workdir, _ = trained
  manifest_path, folder = catalogue
  with open(manifest_path) as f:
    rows = [{**row, 'audio_path': str(folder / row['audio_path'])}
            for row in list(csv.DictReader(f))[:5]]
  corrupt = tmp_path / 'corrupt.wav'
  corrupt.write_bytes(b'RIFF\x00\x00\x00\x00WAVEnot audio')
  rows[1]['audio_path'] = str(tmp_path / 'gone.wav')  # CSV line 3.
  rows[3]['audio_path'] = str(corrupt)  # Line 5.
  extra = [{**rows[0], 'track_id': f'bad{i}', 'energy': value}
           for i, value in enumerate(('abc', '', '1e308'))]  # Lines 7-9.
  rows += extra
  tracks = tmp_path / 'tracks.csv'
  write_manifest(tracks, rows)
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--tracks={tracks}', check=False)
  assert result.returncode == errors.SomeTracksFailed.exit_status
  assert 'Traceback' not in result.stderr
  lines = result.stdout.strip().splitlines()
  assert [line.split('\t')[0] for line in lines] == [r['track_id'] for r in rows]
  assert [('not scored' in line) for line in lines] == [
      False, True, False, True, False, True, True, True]
  # The good rows score as they do in a run without the bad ones.
  alone = run_module('spotipop.predict', f'--workdir={workdir}',
                     f'--tracks={manifest_path}')
  assert lines[0] == alone.stdout.splitlines()[0]
  assert f'{tracks}:3: {tmp_path / "gone.wav"}: no such file' in result.stderr
  assert f'{tracks}:5: {corrupt}: cannot decode audio' in result.stderr
  for line in (7, 8, 9):
    assert f"{tracks}:{line}: column 'energy'" in result.stderr, line
  assert result.stderr.strip().splitlines()[-1] == (
      'spotipop.predict: 5 of 8 track(s) not scored (lines 3, 5, 7, 8, 9: '
      'their audio or values cannot be used; the reasons are above)')


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


def test_every_experiment_flagfile_parses():
  names = sorted(name[:-len('.flags')] for name in os.listdir(
      os.path.join(REPO, 'experiments')) if name.endswith('.flags'))
  assert 'default' in names and 'spotify32k_group' in names
  for name in names:
    config = experiment_config(name)
    assert config.train.batch_size > 0, name
  with pytest.raises(flags.Error, match='learnin_rate'):
    experiment_config('default', '--learnin_rate=0.1')


@on_the_trained_run
def test_predictor_scores_in_chunks_like_one_batch(trained, catalogue):
  workdir, _ = trained
  predictor = new_tracks.Predictor(str(workdir))
  tracks = manifest.read(catalogue[0], predictor.config.data).tracks[:11]
  args = ([t.audio_path for t in tracks], [t.features for t in tracks],
          [t.genre for t in tracks])
  whole = predictor(*args, chunk=16)
  chunked = predictor(*args, chunk=4)
  assert whole.failed == chunked.failed == {}
  assert whole.probability.shape == chunked.probability.shape == (11,)
  np.testing.assert_allclose(chunked.probability, whole.probability,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(chunked.score, whole.score, rtol=1e-5, atol=1e-4)


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


def test_paper_experiment_reads_renamed_columns_with_audio(catalogue, tmp_path):
  """The demo catalogue as a Spotify export with previews: other column names,
  dates as text, an artist column; run as experiments/paper.flags."""
  manifest_path, folder = catalogue
  renames = {'track_id': 'spotify_id', 'artist': 'track_artist',
             'audio_path': 'preview_file', 'popularity': 'track_popularity',
             'genre': 'playlist_genre'}
  with open(manifest_path) as f:
    rows = list(csv.DictReader(f))
  export = []
  for row in rows:
    renamed = {renames.get(k, k): v for k, v in row.items()
               if k != 'release_year'}
    renamed['album_release_date'] = f"{row['release_year']}-06-15"
    export.append(renamed)
  path = tmp_path / 'export.csv'
  write_manifest(path, export)
  workdir = tmp_path / 'run'
  run_module('spotipop.main', '--flagfile=experiments/paper.flags',
             *small_flags(path, tmp_path / 'tfds'), '--n_mels=0',
             f'--audio_dir={folder}', f'--workdir={workdir}', '--num_epochs=1',
             '--id_column=spotify_id', '--audio_column=preview_file',
             '--popularity_column=track_popularity',
             '--genre_column=playlist_genre',
             '--release_column=album_release_date',
             '--group_column=track_artist', '--split=group')
  with open(workdir / 'dataset.json') as f:
    dataset = json.load(f)
  assert dataset['build_report']['kept'] == 48
  sources = datasets.load(dataset['data_dir']).as_data_source()
  assert sources['train'][0]['audio'].shape == (8000,)
  groups = {s: {r['group'].decode() for r in sources[s]}
            for s in catalog.SPLITS}
  assert not groups['train'] & groups['test']
  with open(workdir / 'eval' / 'test-best' / 'predictions.csv') as f:
    predictions = list(csv.DictReader(f))
  assert {p['group'] for p in predictions} == groups['test']
  assert {p['track_id'] for p in predictions} <= {r['track_id'] for r in rows}


@pytest.mark.parametrize('signal_number, status, line', [
    (signal.SIGTERM, 143, 'stopped by SIGTERM'),
    (signal.SIGINT, 130, 'interrupted by Ctrl-C')])
def test_a_tool_waiting_on_a_server_stops_at_once_in_one_line(
    tmp_path, signal_number, status, line):
  """The tools share one way out for SIGTERM and Ctrl-C (training saves
  first: preemption_test.py); here, a collector blocked on a request."""
  server = jamendo_server.Server(jamendo_server.catalogue(3))
  server.faults['stalled'] = threading.Event()
  try:
    process = subprocess.Popen(
        [sys.executable, '-m', 'spotipop.catalogues', 'jamendo',
         f'--api_url={server.api_url}', f'--out={tmp_path / "j"}',
         f'--client_id={jamendo_server.CLIENT_ID}'], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not server.requests and time.monotonic() < deadline:
      time.sleep(0.05)
    assert server.requests, 'the collector never asked the server'
    process.send_signal(signal_number)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 5
  finally:
    server.faults['stalled'].set()
    server.close()
  assert process.returncode == status
  assert 'Traceback' not in stderr
  assert stderr.strip().splitlines()[-1] == f'spotipop.catalogues: {line}'
  assert not (tmp_path / 'j' / 'manifest.csv').exists()
