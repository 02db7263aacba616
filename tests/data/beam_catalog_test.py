"""--build_runner=beam: the same dataset as the local build, from Beam workers."""

import csv
import os

import apache_beam as beam
from apache_beam.options import pipeline_options
import numpy as np
import pytest
from tensorflow_datasets.core import writer as writer_lib

from conftest import small_config
from conftest import write_manifest
from spotipop import errors
from spotipop.data import beam_catalog
from spotipop.data import catalog
from spotipop.data import datasets

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow
# Tests whose Beam code runs in this process, where the mutation run sees it
# (setup.cfg's [mutmut]); worker processes' runs it cannot attribute.
IN_THIS_PROCESS = pytest.mark.mutation

WORKERS = ('--runner=FnApiRunner --direct_running_mode=multi_processing '
           '--direct_num_workers=2')
IN_PROCESS = '--runner=FnApiRunner'


def _build(manifest, data_dir, runner, options=WORKERS, **overrides):
  config = small_config(manifest, data_dir, build_runner=runner,
                        beam_pipeline_options=options, **overrides)
  return datasets.build(config.data)


def _examples(builder, split):
  return {bytes(e['track_id']).decode(): e
          for e in builder.as_data_source()[split]}


def _assert_same_dataset(beam_built, local_built):
  assert beam_built.data_dir.endswith(
      local_built.data_dir.split('spotipop_catalog', 1)[1])
  for split in catalog.SPLITS:
    ours, theirs = _examples(beam_built, split), _examples(local_built, split)
    assert sorted(ours) == sorted(theirs) and ours
    for track_id, example in ours.items():
      assert example.keys() == theirs[track_id].keys()
      for key, value in example.items():
        np.testing.assert_array_equal(value, theirs[track_id][key],
                                      err_msg=f'{split} {track_id} {key}')
  # Statistics included, to the last bit: the same tracks in the same order.
  assert (datasets.load(beam_built.data_dir).info.metadata ==
          datasets.load(local_built.data_dir).info.metadata)


@pytest.fixture(scope='module')
def local_build(dirty_catalogue, tmp_path_factory):
  return _build(dirty_catalogue, tmp_path_factory.mktemp('local'), 'local',
                max_skip_fraction=0.1)


def test_beam_workers_build_the_local_dataset_bad_files_included(
    dirty_catalogue, local_build, tmp_path):
  built = _build(dirty_catalogue, tmp_path, 'beam', max_skip_fraction=0.1)
  _assert_same_dataset(built, local_build)
  report = built.info.metadata['build_report']
  # Three found from their headers, the truncated mp3 only by decoding it.
  assert [s['track_id'] for s in report['skipped']] == [
      'bad-corrupt.mp3', 'bad-short.wav', 'bad-missing.ogg',
      'bad-truncated.mp3']
  assert report['kept'] == 48
  assert not list(tmp_path.rglob('beam-metadata-*'))  # Staged files removed.


@IN_THIS_PROCESS
def test_a_failed_bundle_is_retried_by_the_runner(dirty_catalogue, local_build,
                                                  tmp_path, monkeypatch):
  """BundleBasedDirectRunner retries a failed bundle, as Dataflow does.

  It fails on the bundle's third track, after two were decoded: the build's
  counts of skipped and decoded tracks must not count them twice (this
  runner's metrics do), or it would fail for want of examples it wrote.
  """
  calls, example = [], catalog.example

  def flaky(track, *args):
    calls.append(track.track_id)
    if len(calls) == 3:
      raise OSError(f'{track.track_id}: connection reset (a transient '
                    'failure)')
    return example(track, *args)

  monkeypatch.setattr(catalog, 'example', flaky)
  built = _build(dirty_catalogue, tmp_path, 'beam',
                 '--runner=BundleBasedDirectRunner', max_skip_fraction=0.1)
  assert len(calls) > len(set(calls))  # Retried, and nothing was lost.
  _assert_same_dataset(built, local_build)


@IN_THIS_PROCESS
@pytest.mark.parametrize('fraction, found_by', [(0.05, 3), (0.06, 4)],
                         ids=['headers', 'decoded'])
def test_too_many_unusable_files_fail_a_beam_build(dirty_catalogue, tmp_path,
                                                   fraction, found_by):
  """By headers before decoding (3 files), or by decoding (the 4th), of the
  52 tracks left once two repeated rows are dropped."""
  with open(dirty_catalogue, newline='') as f:
    rows = list(csv.DictReader(f))
  repeated = write_manifest(os.path.join(os.path.dirname(dirty_catalogue),
                                         'repeated.csv'), rows + rows[:2])
  with pytest.raises(errors.DataError,
                     match=rf'{found_by} of 52 tracks have unusable audio, '
                     rf'over --max_skip_fraction={fraction}'):
    _build(repeated, tmp_path, 'beam', IN_PROCESS, max_skip_fraction=fraction,
           duplicates='keep_first')
  assert not list(tmp_path.rglob('*.array_record*'))  # Nothing kept.


@IN_THIS_PROCESS
def test_an_empty_split_fails_before_decoding(catalogue, tmp_path,
                                              monkeypatch):
  """After the headers are read where --beam_pipeline_options sends them."""
  given = []

  class Recorded(beam.Pipeline):
    def __init__(self, *args, options=None, **kwargs):
      given.append(options)
      super().__init__(*args, options=options, **kwargs)
  monkeypatch.setattr(beam_catalog.beam, 'Pipeline', Recorded)
  with pytest.raises(errors.DataError, match='leaves the .* split .* empty'):
    _build(catalogue[0], tmp_path, 'beam', split_fractions=(0.98, 0.01, 0.01))
  assert len(given) == 2  # TFDS's pipeline, and the headers' within it.
  for options in given:
    direct = options.view_as(pipeline_options.DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == (
        'multi_processing', 2)


@IN_THIS_PROCESS
def test_bad_feature_values_fail_before_decoding(catalogue, tmp_path,
                                                 monkeypatch):
  with open(catalogue[0], newline='') as f:
    rows = list(csv.DictReader(f))
  negative = write_manifest(catalogue[1] / 'negative.csv', [
      {**r, 'artist_followers': -5} for r in rows])
  decoded = []
  monkeypatch.setattr(catalog, 'decoded_track',
                      lambda *args: decoded.append(args))
  with pytest.raises(errors.DataError, match='--log1p_columns: .*'
                     'artist_followers.* values <= -1'):
    _build(str(negative), tmp_path / 'tfds', 'beam', IN_PROCESS)
  assert not decoded


@IN_THIS_PROCESS
def test_unknown_pipeline_options_name_themselves(catalogue, tmp_path):
  with pytest.raises(errors.SpotipopError,
                     match=r"\['direct_num_wrokers'\] are not Beam pipeline"):
    _build(catalogue[0], tmp_path, 'beam', '--direct_num_wrokers=2')


@IN_THIS_PROCESS
def test_a_beam_build_for_a_model_without_audio_opens_no_audio_file(
    catalogue, tmp_path):
  with open(catalogue[0], newline='') as f:
    rows = list(csv.DictReader(f))
  gone = write_manifest(tmp_path / 'gone.csv', [
      {**r, 'audio_path': f'gone/{r["audio_path"]}'} for r in rows])
  config = small_config(str(gone), tmp_path / 'tfds', build_runner='beam',
                        beam_pipeline_options=IN_PROCESS)
  report = datasets.build(config.data, False).info.metadata['build_report']
  assert report['kept'] == 48 and not report['skipped']


_WRITE_SHARD = writer_lib.BeamWriter._write_final_shard


def _write_shard_but_one(self, shardid_examples, non_empty_shard_ids):
  shard_id, examples = shardid_examples
  return _WRITE_SHARD(self, (shard_id, list(examples)[1:] or examples),
                      non_empty_shard_ids)


@IN_THIS_PROCESS
def test_examples_a_runner_failed_to_write_fail_the_build(catalogue, tmp_path,
                                                          monkeypatch):
  monkeypatch.setattr(writer_lib.BeamWriter, '_write_final_shard',
                      _write_shard_but_one)
  with pytest.raises(errors.DataError,
                     match=r'wrote 33 of the 34 examples of the train split'):
    _build(catalogue[0], tmp_path, 'beam', '--runner=BundleBasedDirectRunner')
  assert not list(tmp_path.rglob('*.array_record*'))  # Nothing kept.


@IN_THIS_PROCESS
def test_beam_workers_compute_the_local_builds_descriptors(catalogue,
                                                           tmp_path):
  described = dict(descriptors='audio', descriptor_seconds=2.0)
  local = _build(catalogue[0], tmp_path / 'local', 'local', **described)
  built = _build(catalogue[0], tmp_path / 'beam', 'beam', options=IN_PROCESS,
                 **described)
  _assert_same_dataset(built, local)
  assert not list(tmp_path.rglob('beam-metadata-*'))  # Staged files removed.
  assert len(built.info.metadata['feature_stats']['columns']) > len(
      small_config(catalogue[0], tmp_path).data.feature_columns)
