"""Real Spotify tables: the experiment flagfiles' column mappings, splits and baselines.

The vendored falah2025 sample (tests/fixtures, MIT) always runs. The full tables
live in ../shared/data beside the repository; tests that need them skip,
saying so, where it is absent.
"""

import csv
import os

import numpy as np
import pytest

from conftest import REPO
from conftest import SHARED_DATA
from conftest import experiment_config
from conftest import run_module
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.data import manifest
from spotipop.data import splits
from spotipop.evaluation import baselines
from spotipop.evaluation import metrics
from spotipop.evaluation import scorecard

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow

SAMPLE = os.path.join(REPO, 'tests', 'fixtures', 'falah2025', 'tracks_sample.csv')
SHARED = SHARED_DATA
SPOTIFY_32K = os.path.join(SHARED, 'spotify_songs_32k', 'spotify_songs.csv')
needs_32k = pytest.mark.skipif(
    not os.path.exists(SPOTIFY_32K),
    reason=f'{SPOTIFY_32K} is absent (the shared data beside the repository)')


def _groups_by_split(builder):
  sources = builder.as_data_source()
  return {s: {r['group'].decode() for r in sources[s]} for s in catalog.SPLITS}


def _assert_disjoint(groups):
  for a, b in (('train', 'validation'), ('train', 'test'),
               ('validation', 'test')):
    assert groups[a] and groups[b] and not groups[a] & groups[b], (a, b)


@pytest.fixture(scope='module')
def falah_sample(tmp_path_factory):
  """The falah2025 sample built under falah2025_group.flags (tabular)."""
  config = experiment_config('falah2025_group', f'--manifest={SAMPLE}',
                             f'--data_dir={tmp_path_factory.mktemp("tfds")}')
  return config, datasets.build(config.data, config.uses_audio)


def test_falah_mapping_reads_the_papers_table_as_published(falah_sample):
  config, builder = falah_sample
  assert not config.uses_audio and 'audio' not in builder.info.features
  report = builder.info.metadata['build_report']
  assert report['rows'] == report['kept'] == 431 and not report['skipped']
  example = builder.as_data_source()['train'][0]
  assert example['track_id'].decode().startswith('line')
  # Genre from list text; release_year derived from YYYY-MM-DD dates.
  assert "'" not in example['genre'].decode()
  year = config.data.feature_columns.index('release_year')
  assert 1970 <= example['features'][year] <= 2024
  assert example['release_year'] == int(example['features'][year])


def test_falah_group_split_keeps_each_artist_on_one_side(falah_sample):
  _, builder = falah_sample
  _assert_disjoint(_groups_by_split(builder))


def test_baselines_on_the_falah_sample(falah_sample):
  _, builder = falah_sample
  tables = {s: datasets.read_tabular(builder, s) for s in catalog.SPLITS}
  out = baselines.fit_predict(tables, seed=0)
  prior = tables['train']['label'].mean()
  test = tables['test']
  np.testing.assert_array_equal(out['always_popular']['test']['probability'], 1)
  np.testing.assert_allclose(out['train_prior']['test']['probability'], prior)
  np.testing.assert_allclose(out['train_mean_popularity']['test']['score'],
                             tables['train']['popularity'].mean())
  gbdt = out['gbdt']['test']
  assert gbdt['probability'].shape == test['label'].shape
  assert np.all((gbdt['probability'] >= 0) & (gbdt['probability'] <= 1))
  assert np.all((gbdt['score'] >= 0) & (gbdt['score'] <= 100))
  # Deterministic: refitting gives the same trees.
  again = baselines.fit_predict(tables, seed=0)['gbdt']['test']
  np.testing.assert_array_equal(again['probability'], gbdt['probability'])


def test_the_falah_sample_at_50_says_its_test_split_cannot_rank(falah_sample):
  """At >= 50 the sample's unseen-artist test split holds a handful of
  unpopular tracks and of artists: the report says so, and its intervals
  resample artists."""
  _, builder = falah_sample
  tables = {s: datasets.read_tabular(builder, s) for s in catalog.SPLITS}
  gbdt = baselines.fit_predict(tables, seed=0)
  scored = {s: {**tables[s], **gbdt['gbdt'][s]} for s in ('validation', 'test')}
  unpopular = int((tables['test']['label'] == 0).sum())
  assert unpopular < scorecard.MIN_CLASS_TRACKS
  summary = scorecard.summarize('test', scored, gbdt, 'mcc', bootstrap=200,
                             groups=tables['test']['group'])
  assert summary['warnings'][0] == (
      f'{unpopular} unpopular test track(s), under '
      f'{scorecard.MIN_CLASS_TRACKS}: ROC-AUC, PR-AUC and MCC cannot rank models '
      'on this split')
  assert summary['bootstrap']['unit'] == 'group'
  assert summary['bootstrap']['units'] == len(set(tables['test']['group']))
  # A handful of test artists, too: no comparison can decide anything.
  assert summary['bootstrap']['units'] < scorecard.MIN_RESAMPLED_UNITS
  assert {c['roc_auc']['verdict'] for c in summary['comparisons'].values()
          if 'roc_auc' in c} == {'cannot decide'}
  assert any(w.endswith('no comparison on this split can decide')
             for w in summary['warnings'])
  assert 'WARNING: ' + summary['warnings'][0] in scorecard.headline(
      {**summary, 'checkpoint': 'best', 'step': 1})


def test_gbdt_ranks_real_tracks_better_than_the_prior(tmp_path):
  # Median threshold and random split: artist popularity carries real signal.
  config = experiment_config('falah2025_median', f'--manifest={SAMPLE}',
                             f'--data_dir={tmp_path}',
                             '--popularity_threshold=73')
  builder = datasets.build(config.data, config.uses_audio)
  tables = {s: datasets.read_tabular(builder, s) for s in catalog.SPLITS}
  gbdt = baselines.fit_predict(tables)['gbdt']
  for split in ('validation', 'test'):
    auc = metrics.roc_auc(tables[split]['label'], gbdt[split]['probability'])
    assert auc > 0.6, (split, auc)


def test_tabular_run_end_to_end_needs_no_audio(tmp_path):
  """falah2025.flags on the sample: train, evaluate, predict from a CSV."""
  workdir = tmp_path / 'run'
  result = run_module(
      'spotipop.main', '--flagfile=experiments/falah2025_median.flags',
      f'--manifest={SAMPLE}', f'--data_dir={tmp_path / "tfds"}',
      f'--workdir={workdir}', '--num_epochs=2', '--batch_size=32')
  assert '| GBDT (LightGBM) |' in result.stdout
  assert (workdir / 'eval' / 'test-best' / 'report.json').exists()
  predicted = run_module('spotipop.predict', f'--workdir={workdir}',
                         f'--tracks={SAMPLE}')
  lines = predicted.stdout.strip().splitlines()
  assert len(lines) == 431 and lines[0].startswith('line2\tP(popular)=')
  with open(SAMPLE, newline='') as f:
    first = next(csv.DictReader(f))
  columns = experiment_config('falah2025').data.feature_columns
  values = {**first, 'release_year': first['release_date'][:4]}
  features = ','.join(f'{c}={values[c]}' for c in columns)
  single = run_module('spotipop.predict', f'--workdir={workdir}',
                      f'--features={features}')
  assert single.stdout.startswith('track\tP(popular)=')


@needs_32k
def test_spotify32k_builds_one_row_per_track_and_holds_out_artists(tmp_path):
  config = experiment_config('spotify32k_group', f'--data_dir={tmp_path}')
  builder = datasets.build(config.data, config.uses_audio)
  report = builder.info.metadata['build_report']
  # One row per track: the playlist repeats are dropped and listed.
  assert report['kept'] == 28_356
  assert len(report['duplicates_dropped']) == 32_833 - 28_356
  _assert_disjoint(_groups_by_split(builder))


@needs_32k
def test_spotify32k_time_split_holds_out_the_newest_releases():
  """The time split of the same table as the build assigns it: splits.assign
  over the tracks the manifest reader keeps (the group build above writes
  the splits assign returns)."""
  config = experiment_config('spotify32k_time')
  read = manifest.read(config.data.manifest, config.data,
                       with_audio=config.uses_audio)
  assert len(read.tracks) == 28_356
  dates = {name: [t.release_date for t in members] for name, members in
           splits.assign(read.tracks, config.data).items()}
  assert all(dates.values())
  assert max(dates['train']) <= min(dates['validation'])
  assert max(dates['validation']) <= min(dates['test'])
