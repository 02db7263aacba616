"""The flagfiles catalogue importers write, and experiments/ keeping the same
settings for the README's paths."""

import os

import pytest

from conftest import REPO
from spotipop import config as config_lib
from spotipop.data import catalogue_flags
from spotipop.data import fma_import
from spotipop.data import jamendo_import

README_PATHS = {
    'fma': ('catalogues/fma/manifest.csv', 'fma_large',
            fma_import.FLAG_COLUMNS),
    'jamendo': ('catalogues/jamendo/manifest.csv', 'catalogues/jamendo/audio',
                jamendo_import.FLAG_COLUMNS),
}


def _flag_lines(text):
  return [line for line in text.splitlines() if not line.startswith('#')]


@pytest.mark.parametrize('catalogue', sorted(README_PATHS))
def test_the_experiment_is_what_the_importer_writes(catalogue):
  manifest, audio_dir, columns = README_PATHS[catalogue]
  with open(os.path.join(REPO, 'experiments', f'{catalogue}.flags')) as f:
    experiment = f.read()
  assert _flag_lines(experiment) == _flag_lines(catalogue_flags.flagfile(
      catalogue, manifest, audio_dir, columns))
  with open(os.path.join(REPO, 'README.md')) as f:
    readme = f.read()
  assert f'--flagfile=experiments/{catalogue}.flags' in readme
  assert f'--out={os.path.dirname(manifest)}' in readme


def test_the_fma_sample_experiment_is_the_metadata_flagfile():
  with open(os.path.join(REPO, 'experiments', 'fma_sample.flags')) as f:
    experiment = _flag_lines(f.read())
  written = _flag_lines(catalogue_flags.flagfile(
      'fma', 'catalogues/fma_sample/manifest.csv', None,
      fma_import.FLAG_COLUMNS, fma_import.METADATA_FEATURES))
  assert [l for l in experiment if not l.startswith('--workdir')] == [
      l for l in written if not l.startswith('--workdir')]
  with open(os.path.join(REPO, 'experiments', 'study.sh')) as f:
    assert '--out=catalogues/fma_sample' in f.read()


def test_without_audio_only_the_dense_tower_reads_metadata(tmp_path):
  path = tmp_path / 'metadata.flags'
  path.write_text(catalogue_flags.flagfile(
      'fma', 'm.csv', None, fma_import.FLAG_COLUMNS, ('duration', 'bit_rate')))
  config = config_lib.from_flagfile(str(path))
  assert config.model.towers == 'tabular_only'
  assert config.data.feature_columns == ('duration', 'bit_rate')
  assert config.data.descriptors == 'none'
  assert '--audio_dir' not in path.read_text()
  assert '--workdir=runs/fma_metadata\n' in path.read_text()


@pytest.mark.parametrize('catalogue', sorted(README_PATHS))
def test_the_flagfile_is_a_valid_config_of_counts_unseen_artists_and_audio(
    catalogue, tmp_path):
  manifest, audio_dir, columns = README_PATHS[catalogue]
  path = tmp_path / 'catalogue.flags'
  path.write_text(catalogue_flags.flagfile(catalogue, manifest, audio_dir,
                                           columns))
  data = config_lib.from_flagfile(str(path)).data
  assert (data.manifest, data.audio_dir) == (manifest, audio_dir)
  assert (data.popularity_column, data.popularity_from,
          data.popularity_within_year) == ('listens', 'percentile', True)
  assert (data.split, data.group_column) == ('group', 'artist_id')
  assert data.descriptors == 'audio' and data.feature_columns == ()
