"""Building a catalogue's dataset: where it may go, and two builds of one
folder at once."""

import os
import shutil
import threading

import pytest

from conftest import small_config
from spotipop import errors
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.storage import locks


def test_a_data_dir_that_is_a_file_is_refused_naming_the_flag(catalogue,
                                                              tmp_path):
  not_a_folder = tmp_path / 'tfds'
  not_a_folder.write_text('')
  with pytest.raises(errors.SpotipopError, match=(
      f'^cannot write {not_a_folder} \\(a file, not a folder\\): give '
      '--data_dir=A_FOLDER_YOU_CAN_WRITE$')):
    datasets.build(small_config(catalogue[0], not_a_folder).data)


def test_a_second_build_of_a_folder_waits_for_the_first(catalogue, tmp_path):
  """Another process building into the folder holds its build lock; this
  build waits for it, then builds (or finds the dataset built)."""
  config = small_config(catalogue[0], tmp_path)
  outcome = {}

  def build():
    try:
      outcome['builder'] = datasets.build(config.data, with_audio=False)
    except errors.SpotipopError as e:
      outcome['error'] = e

  with locks.held(str(tmp_path / '.spotipop-build.lock'), 'the other build',
                  wait=False):
    waiting = threading.Thread(target=build)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and not outcome  # Still waiting.
  waiting.join(timeout=120)
  assert 'error' not in outcome
  assert outcome['builder'].info.splits['train'].num_examples > 0


def test_a_killed_builds_leftovers_go_and_the_folders_beside_them_stay(
    catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path)
  name = catalog.builder_config(config.data).name
  folder = tmp_path / 'spotipop_catalog' / name
  leftover = folder / 'incomplete.ABC123_1.3.0'
  leftover.mkdir(parents=True)
  (leftover / 'partial.array_record').write_bytes(b'x' * 100)
  older = folder / '1.2.0'  # A dataset of an earlier version: the user's.
  older.mkdir()
  (older / 'dataset_info.json').write_text('{}')
  datasets.build(config.data)
  assert not leftover.exists()
  assert (older / 'dataset_info.json').read_text() == '{}'
  assert sorted(os.listdir(folder)) == ['1.2.0', '1.3.0']


def test_a_leftover_that_cannot_be_removed_does_not_stop_the_build(
    catalogue, tmp_path, monkeypatch):
  """Files of another user, or on a read-only mount: left, and the build
  goes on beside them."""
  config = small_config(catalogue[0], tmp_path)
  name = catalog.builder_config(config.data).name
  leftover = tmp_path / 'spotipop_catalog' / name / 'incomplete.ABC123_1.3.0'
  leftover.mkdir(parents=True)
  rmtree, refused = shutil.rmtree, []

  def refused_for_the_leftover(path, ignore_errors=False, **kwargs):
    if str(path) != str(leftover):
      return rmtree(path, ignore_errors=ignore_errors, **kwargs)
    refused.append(path)
    if not ignore_errors:
      raise PermissionError(13, 'Permission denied', str(path))
  monkeypatch.setattr(shutil, 'rmtree', refused_for_the_leftover)
  builder = datasets.build(config.data)
  assert builder.info.splits['train'].num_examples > 0
  assert refused and leftover.exists()


def test_the_beam_runner_builds_with_beam_and_its_options(catalogue, tmp_path,
                                                          monkeypatch):
  """--build_runner=beam hands the build to BeamCatalog, with the pipeline
  options of --beam_pipeline_options (beam_catalog_test.py, in the slow
  tier, runs such builds whole)."""
  from spotipop.data import beam_catalog  # pylint: disable=g-import-not-at-top
  prepared = {}

  def record(builder, download_config=None):
    prepared.update(builder=builder, options=download_config.beam_options)
  monkeypatch.setattr(beam_catalog.BeamCatalog, 'download_and_prepare', record)
  config = small_config(
      catalogue[0], tmp_path, build_runner='beam',
      beam_pipeline_options='--runner=FnApiRunner --direct_num_workers=3')
  datasets.build(config.data)
  assert type(prepared['builder']) is beam_catalog.BeamCatalog  # pylint: disable=unidiomatic-typecheck
  options = prepared['options'].get_all_options()
  assert (options['runner'], options['direct_num_workers']) == ('FnApiRunner',
                                                                3)
