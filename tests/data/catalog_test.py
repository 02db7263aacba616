"""The TFDS builder on real audio files, bad ones included."""

import csv
import dataclasses
import hashlib
import json
import os
import re
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import small_config
from conftest import write_manifest
from spotipop import config as config_lib
from spotipop import errors
from spotipop.audio import decode
from spotipop.audio import descriptor_names
from spotipop.audio import file_descriptors
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.data import features
from spotipop.data import manifest
from spotipop.data import spill


@pytest.fixture(scope='module')
def built(dirty_catalogue, tmp_path_factory):
  config = small_config(dirty_catalogue, tmp_path_factory.mktemp('tfds'),
                        max_skip_fraction=0.1)
  return config, datasets.build(config.data)


def test_bad_audio_is_skipped_and_reported_by_line(built):
  _, builder = built
  report = builder.info.metadata['build_report']
  assert report['rows'] == 52 and report['kept'] == 48
  skipped = {s['track_id']: s for s in report['skipped']}
  assert set(skipped) == {'bad-corrupt.mp3', 'bad-short.wav', 'bad-missing.ogg',
                          'bad-truncated.mp3'}
  assert 'too short' in skipped['bad-short.wav']['reason']
  assert 'no such file' in skipped['bad-missing.ogg']['reason']
  # Its header reads, so only decoding finds it out; the build goes on.
  assert 'truncated or corrupt' in skipped['bad-truncated.mp3']['reason']
  assert skipped['bad-corrupt.mp3']['row'] == 50  # Header is line 1.
  assert sum(builder.info.splits[s].num_examples for s in catalog.SPLITS) == 48
  counts = builder.info.metadata['class_counts']
  sources = builder.as_data_source()
  for s in catalog.SPLITS:  # Written examples only, the late skip left out.
    labels = [int(r['label']) for r in sources[s]]
    assert counts[s] == [labels.count(0), labels.count(1)]
    assert sum(counts[s]) == builder.info.splits[s].num_examples
  assert counts['train'][0] != counts['train'][1]  # A swap would show.
  # Evaluation reloads the dataset: the metadata on disk is the final one.
  on_disk = datasets.load(builder.data_dir).info.metadata
  assert on_disk['class_counts'] == counts
  assert on_disk['build_report'] == report


def test_too_many_unusable_files_fail_the_build(dirty_catalogue, tmp_path):
  config = small_config(dirty_catalogue, tmp_path, max_skip_fraction=0.05)
  with pytest.raises(errors.DataError,
                     match=r'3 of 52 tracks have unusable audio, over '
                     r'--max_skip_fraction=0.05'):
    datasets.build(config.data)


def test_a_skip_count_at_the_limit_builds_and_one_more_fails():
  data = config_lib.DataConfig(manifest='m.csv', max_skip_fraction=0.25)
  catalog.check_skipped(data, 1, 4)  # Exactly a quarter: allowed.
  with pytest.raises(errors.DataError, match=(
      r'^m\.csv: 2 of 4 tracks have unusable audio, over '
      r'--max_skip_fraction=0\.25; ')):
    catalog.check_skipped(data, 2, 4)


def test_skips_found_by_decoding_count_against_the_tracks_not_the_rows(
    dirty_catalogue, tmp_path):
  """Rows dropped as duplicates are not tracks: with every row repeated,
  the truncated file (found by decoding) is still 4 of 52 tracks."""
  with open(dirty_catalogue) as f:
    rows = list(csv.DictReader(f))
  path = write_manifest(tmp_path / 'twice.csv', rows + rows)
  # 3 of 52 found by the header probe pass 0.06; the 4th, decoded, does not.
  config = small_config(str(path), tmp_path, max_skip_fraction=0.06,
                        duplicates='keep_first',
                        audio_dir=os.path.dirname(dirty_catalogue))
  with pytest.raises(errors.DataError,
                     match=r'4 of 52 tracks have unusable audio, over '
                     r'--max_skip_fraction=0.06'):
    datasets.build(config.data)


def test_examples_hold_each_tracks_clip_features_and_label(
    built, dirty_catalogue):
  config, builder = built
  tracks = {t.track_id: t for t in manifest.read(dirty_catalogue,
                                                 config.data).tracks}
  load = catalog.clip_loader(config.data)
  for example in list(builder.as_data_source()['train'])[:4]:
    track = tracks[example['track_id'].decode()]
    assert example['audio'].dtype == np.int16
    np.testing.assert_array_equal(example['audio'],
                                  decode.to_pcm16(load(track.audio_path)))
    np.testing.assert_array_equal(example['features'],
                                  np.float32(track.features))
    assert example['popularity'] == np.float32(track.popularity)
    assert example['label'] == int(track.popularity >= 50)
    assert (example['genre'].decode(), example['release_year'],
            example['group'].decode()) == (track.genre, track.release_year,
                                           track.group)


def test_feature_stats_come_from_the_train_split_only(built, dirty_catalogue):
  config, builder = built
  train_ids = {r['track_id'].decode()
               for r in builder.as_data_source()['train']}
  tracks = {t.track_id: t for t in manifest.read(
      dirty_catalogue, config.data).tracks}
  x = np.array([tracks[i].features for i in sorted(train_ids)])
  log1p = [c in config.data.log1p_columns for c in config.data.feature_columns]
  x[:, log1p] = np.log1p(x[:, log1p])
  stats = builder.info.metadata['feature_stats']
  np.testing.assert_allclose(stats['mean'], x.mean(axis=0), rtol=1e-9)
  np.testing.assert_allclose(stats['std'], x.std(axis=0), rtol=1e-9)
  counts = builder.info.metadata['class_counts']['train']
  assert sum(counts) == len(train_ids)


def test_time_split_holds_out_the_newest_releases(catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path, split='time')
  sources = datasets.build(config.data).as_data_source()
  years = {s: [int(r['release_year']) for r in sources[s]]
           for s in catalog.SPLITS}
  assert max(years['train']) <= min(years['validation'])
  assert max(years['validation']) <= min(years['test'])


def test_settings_that_change_the_data_change_the_dataset_name(catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path)
  same = catalog.builder_config(dataclasses.replace(config.data,
                                                    data_dir='/elsewhere'))
  other = catalog.builder_config(dataclasses.replace(config.data,
                                                     popularity_threshold=70))
  tabular = catalog.builder_config(config.data, with_audio=False)
  assert catalog.builder_config(config.data).name == same.name
  # Named for its manifest, so a user can tell datasets apart on disk.
  assert re.fullmatch(r'manifest_[0-9a-f]{12}', same.name)
  assert catalog.builder_config(config.data).name != other.name
  assert catalog.builder_config(config.data).name != tabular.name
  described = dataclasses.replace(config.data, descriptors='audio')
  assert catalog.builder_config(described).name not in (
      catalog.builder_config(config.data).name, catalog.builder_config(
          dataclasses.replace(described, descriptor_seconds=10)).name)


def test_datasets_built_before_new_settings_keep_their_name(catalogue):
  """The name is a hash of the data settings: a setting added later, at its
  default, must not rename (and so rebuild) every existing dataset."""
  config = small_config(catalogue[0], '/tfds')
  added = ('descriptors', 'descriptor_seconds', 'popularity_from',
           'popularity_within_year', 'popularity_lower_is_better')
  before = {f: v for f, v in dataclasses.asdict(config.data).items()
            if f not in added}
  assert catalog.builder_config(config.data).name == catalog.builder_config(
      dataclasses.replace(config.data, descriptor_seconds=99.0)).name
  # The hash over exactly the settings there were before descriptors.
  digest = hashlib.sha256(open(catalogue[0], 'rb').read())
  for name in config_lib.BUILD_PLACE_FIELDS:
    del before[name]
  before.update(manifest=os.path.abspath(catalogue[0]), with_audio=True)
  digest.update(json.dumps(before, sort_keys=True).encode())
  assert catalog.builder_config(config.data).name.endswith(
      digest.hexdigest()[:12])
  counted = catalog.builder_config(dataclasses.replace(
      config.data, popularity_from='percentile'))
  assert counted.name != catalog.builder_config(config.data).name


@pytest.fixture(scope='module')
def described(catalogue, tmp_path_factory):
  """The session catalogue built with --descriptors=audio beside its columns."""
  config = small_config(catalogue[0], tmp_path_factory.mktemp('described'),
                        descriptors='audio', descriptor_seconds=2.0)
  return config, datasets.build(config.data)


def test_descriptors_are_stored_after_the_manifests_features(described,
                                                            catalogue):
  config, builder = described
  columns = features.model_columns(config.data)
  assert columns == (*config.data.feature_columns, *descriptor_names.NAMES)
  assert builder.info.metadata['feature_stats']['columns'] == list(columns)
  tracks = {t.track_id: t for t in manifest.read(catalogue[0],
                                                 config.data).tracks}
  for example in list(builder.as_data_source()['test'])[:3]:
    track = tracks[example['track_id'].decode()]
    clip, values = file_descriptors.load(
        track.audio_path, config.data.sample_rate, config.data.clip_seconds,
        config.data.min_clip_seconds, config.data.descriptor_seconds)
    np.testing.assert_array_equal(example['features'],
                                  np.float32((*track.features, *values)))
    np.testing.assert_array_equal(example['audio'], decode.to_pcm16(clip))
    duration = values[descriptor_names.NAMES.index('duration_seconds')]
    assert duration == pytest.approx(sf.info(track.audio_path).duration,
                                     abs=1e-3)


def test_descriptor_statistics_come_from_the_decoded_train_split(described):
  config, builder = described
  train = np.array([r['features'] for r in builder.as_data_source()['train']],
                   np.float64)
  stats = builder.info.metadata['feature_stats']
  log1p = np.array(stats['log1p'], bool)
  train[:, log1p] = np.log1p(train[:, log1p])
  np.testing.assert_allclose(stats['mean'], train.mean(axis=0), rtol=1e-6,
                             atol=1e-9)
  assert len(stats['mean']) == len(features.model_columns(config.data))


@pytest.mark.slow  # Seconds: a build that computes descriptors.
@pytest.mark.mutation  # The mutation run checks it too.
def test_a_manifest_of_ids_audio_and_popularity_builds_on_descriptors(
    catalogue, tmp_path):
  """No feature columns, no genre, no date; tabular-only: the audio is
  decoded for its descriptors, and no clip is stored."""
  with open(catalogue[0]) as f:
    rows = [{k: r[k] for k in ('track_id', 'audio_path', 'popularity')}
            for r in csv.DictReader(f)]
  path = catalogue[1] / 'bare.csv'
  write_manifest(path, rows)
  config = small_config(str(path), tmp_path, descriptors='audio',
                        descriptor_seconds=2.0, feature_columns=(),
                        log1p_columns=(), genre_column='', release_column='')
  builder = datasets.build(config.data, with_audio=False)
  assert 'audio' not in builder.info.features
  example = builder.as_data_source()['train'][0]
  assert example['features'].shape == (len(descriptor_names.NAMES),)
  assert np.all(np.isfinite(example['features']))


def _split_groups(sources):
  return {s: {r['group'].decode() for r in sources[s]} for s in catalog.SPLITS}


def test_group_split_puts_each_artist_on_one_side(catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path, split='group',
                        group_column='artist')
  sources = datasets.build(config.data).as_data_source()
  groups = _split_groups(sources)
  assert groups['train'] and groups['validation'] and groups['test']
  assert not groups['train'] & groups['validation']
  assert not groups['train'] & groups['test']
  assert not groups['validation'] & groups['test']
  assert sum(len(sources[s]) for s in catalog.SPLITS) == 48
  assert 0.5 < len(sources['train']) / 48 < 0.9


def test_tabular_only_dataset_reads_and_stores_no_audio(catalogue, tmp_path):
  # Every audio path points nowhere: a tabular build must not notice.
  with open(catalogue[0]) as f:
    rows = list(csv.DictReader(f))
  for row in rows:
    row['audio_path'] = 'missing/' + row['audio_path']
  path = tmp_path / 'no_audio.csv'
  write_manifest(path, rows)
  config = small_config(str(path), tmp_path / 'tfds')
  builder = datasets.build(config.data, with_audio=False)
  assert 'audio' not in builder.info.features
  assert builder.info.metadata['build_report']['kept'] == 48
  assert 'audio' not in builder.as_data_source()['train'][0]


def test_keep_first_duplicates_are_counted_in_the_build_report(catalogue,
                                                                tmp_path):
  with open(catalogue[0]) as f:
    rows = list(csv.DictReader(f))
  path = tmp_path / 'repeats.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows + rows[:3])  # Lines 50-52 repeat lines 2-4.
  config = small_config(str(path), tmp_path / 'tfds', duplicates='keep_first',
                        audio_dir=str(catalogue[1]))
  report = datasets.build(config.data).info.metadata['build_report']
  assert report['manifest'] == str(path)
  assert report['rows'] == 51 and report['kept'] == 48
  assert [d['row'] for d in report['duplicates_dropped']] == [50, 51, 52]
  assert report['duplicates_dropped'][0]['first_row'] == 2


def test_embedded_demo_catalogue_builds_clean(tmp_path):
  config = small_config('', tmp_path, sample_rate=16_000, clip_seconds=4.0)
  builder = datasets.build(config.data)
  report = builder.info.metadata['build_report']
  assert report['rows'] == 200 and report['kept'] == 200
  assert builder.info.splits['train'].num_examples == 140


def test_parallel_decoding_keeps_manifest_order_and_errors():
  def slow_for_small(x):
    time.sleep(0.01 * (5 - x % 5))  # Later items finish first.
    if x == 7:
      raise errors.AudioError('clip 7: cannot decode')
    return x * 10
  stream = catalog.ordered_map(slow_for_small, range(12), workers=4)
  assert [next(stream) for _ in range(7)] == [0, 10, 20, 30, 40, 50, 60]
  with pytest.raises(errors.AudioError, match='clip 7'):
    next(stream)


@pytest.mark.parametrize('workers', [2, None])
def test_decoding_reads_at_most_twice_its_workers_ahead_on_that_many_threads(
    workers):
  """Memory stays bounded: 2 x workers files in flight (workers defaults to
  the CPU count), decoded by that many threads at once."""
  expected = workers or os.cpu_count()
  pulled, active, most_active = [], [0], [0]
  lock = threading.Lock()

  def items():
    for i in range(40):
      pulled.append(i)
      yield i

  def decode_one(i):
    with lock:
      active[0] += 1
      most_active[0] = max(most_active[0], active[0])
    time.sleep(0.02)
    with lock:
      active[0] -= 1
    return i

  stream = catalog.ordered_map(decode_one, items(), workers=workers)
  assert next(stream) == 0
  assert len(pulled) == 2 * expected
  assert list(stream) == list(range(1, 40))
  assert most_active[0] == expected


def test_a_split_spilled_to_disk_equals_one_built_in_memory(catalogue,
                                                             tmp_path):
  config = small_config(catalogue[0], tmp_path / 'memory')
  in_memory = datasets.build(config.data).as_data_source()
  try:
    spill.MEMORY_BYTES, kept = 0, spill.MEMORY_BYTES  # Every record spills.
    spilled = datasets.build(dataclasses.replace(
        config.data, data_dir=str(tmp_path / 'spilled'))).as_data_source()
  finally:
    spill.MEMORY_BYTES = kept
  assert not list((tmp_path / 'spilled').rglob('bucket_*'))  # Cleaned up.
  for split in ('train', 'validation', 'test'):
    assert len(spilled[split]) == len(in_memory[split]) > 0
    for a, b in zip(spilled[split], in_memory[split]):
      assert a['track_id'] == b['track_id']
      np.testing.assert_array_equal(a['audio'], b['audio'])


def test_labels_on_the_threshold_are_popular(tmp_path):
  """Every stored label, for popularity just under, on and over
  --popularity_threshold, and at the ends of [0, 100]."""
  popularity = [0, 49.99, 50, 50.01, 100] * 6
  path = tmp_path / 'm.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['track_id', 'popularity', 'genre', 'release_year',
                     'energy'])
    for i, p in enumerate(popularity):
      writer.writerow([f't{i}', p, 'pop', 2000 + i, i / 30])
  config = small_config(str(path), tmp_path / 'tfds', towers='tabular_only',
                        feature_columns=('energy',), log1p_columns=())
  sources = datasets.build(config.data, with_audio=False).as_data_source()
  labels = {e['track_id'].decode(): int(e['label'])
            for s in catalog.SPLITS for e in sources[s]}
  assert labels == {f't{i}': int(p >= 50) for i, p in enumerate(popularity)}
  assert sorted(set(labels.values())) == [0, 1]


def test_counts_become_popularity_fitted_on_the_train_split(catalogue,
                                                            tmp_path):
  """FMA-style listens (counts well past 100) read as their percentile."""
  with open(catalogue[0]) as f:
    rows = list(csv.DictReader(f))
  for i, row in enumerate(rows):
    row['popularity'] = str(17 * i ** 2)  # 0 to 37,553 listens.
  path = catalogue[1] / 'listens.csv'
  write_manifest(path, rows)
  config = small_config(str(path), tmp_path, popularity_from='percentile')
  builder = datasets.build(config.data, with_audio=False)
  sources = builder.as_data_source()
  train = sorted(float(r['popularity']) for r in sources['train'])
  assert 0 < train[0] < train[-1] < 100
  # The train split's percentiles are spread evenly over 0-100.
  np.testing.assert_allclose(np.diff(train), 100 / len(train), rtol=1e-5)
  assert builder.info.metadata['build_report']['label'] == (
      'popular: the percentile of popularity among the train tracks >= 50 '
      'of 100')
  counts = builder.info.metadata['class_counts']['train']
  assert counts == [len(train) // 2, len(train) - len(train) // 2]
  with pytest.raises(errors.ManifestError, match='outside .0, 100. .a count '
                     'needs --popularity_from'):
    datasets.build(small_config(str(path), tmp_path / 'score').data,
                   with_audio=False)

