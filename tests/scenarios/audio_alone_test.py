"""A catalogue of nothing but audio and popularity, from build to predict.

The manifest holds a track id, an audio file and a popularity; the tabular
tower and the GBDT baseline see only the descriptors computed from the audio,
and predict scores files and folders that come with nothing else.
"""

import csv
import json
import shutil

import pytest

from conftest import fails_in_one_line
from conftest import run_module
from conftest import small_flags
from conftest import train_here
from conftest import write_manifest
from spotipop.audio import descriptor_names

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def bare_run(catalogue, tmp_path_factory):
  manifest, folder = catalogue
  root = tmp_path_factory.mktemp('bare')
  with open(manifest) as f:
    rows = [{k: r[k] for k in ('track_id', 'audio_path', 'popularity')}
            for r in csv.DictReader(f)]
  bare = root / 'bare.csv'
  write_manifest(bare, rows)
  workdir = root / 'run'
  run_module('spotipop.main', *small_flags(str(bare), root / 'tfds'),
             f'--audio_dir={folder}', f'--workdir={workdir}',
             '--descriptors=audio', '--descriptor_seconds=2',
             '--feature_columns=', '--log1p_columns=', '--genre_column=',
             '--release_column=', '--num_epochs=1', '--bootstrap=100')
  return workdir, folder, rows


def test_both_towers_and_the_gbdt_train_on_descriptors_alone(bare_run):
  workdir, _, _ = bare_run
  with open(workdir / 'dataset.json') as f:
    columns = json.load(f)['feature_stats']['columns']
  assert columns == list(descriptor_names.NAMES)
  with open(workdir / 'eval' / 'test-best' / 'report.json') as f:
    report = json.load(f)
  assert report['baselines']['gbdt']['roc_auc'] is not None
  assert 'comparisons' in report


def test_predict_scores_audio_files_and_folders_and_names_a_bad_one(
    bare_run, tmp_path):
  workdir, folder, rows = bare_run
  files = [str(folder / r['audio_path']) for r in rows[:3]]
  songs = tmp_path / 'songs'
  songs.mkdir()
  for path in files[1:]:
    shutil.copy(path, songs)
  (songs / 'broken.wav').write_bytes(b'RIFF not really')
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--audio={files[0]}', str(songs), check=False)
  lines = result.stdout.strip().splitlines()
  assert [line.split('\t')[0] for line in lines] == [
      files[0], str(songs / 'broken.wav'),
      *sorted(str(songs / p.rsplit('/', 1)[1]) for p in files[1:])]
  assert lines[1].endswith('\tnot scored')
  assert all('P(popular)=' in line for i, line in enumerate(lines) if i != 1)
  fails_in_one_line(result, 'spotipop.predict', '1 of 4 track(s) not scored',
                    'broken.wav')
  assert result.returncode == 2


@pytest.mark.xdist_group('trained')
def test_predict_asks_for_the_feature_columns_a_run_also_reads(trained):
  workdir, _ = trained
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      '--audio=song.mp3', check=False)
  fails_in_one_line(result, 'spotipop.predict', '--features', 'danceability')


def test_predict_asks_a_model_without_audio_for_its_features(catalogue,
                                                             tmp_path):
  workdir = tmp_path / 'run'
  train_here(workdir, *small_flags(catalogue[0], tmp_path / 'tfds'),
             '--towers=tabular_only', '--num_epochs=1')
  result = run_module('spotipop.predict', f'--workdir={workdir}',
                      '--audio=song.mp3', check=False)
  fails_in_one_line(result, 'spotipop.predict', '--features',
                    'reads no audio', 'danceability')
