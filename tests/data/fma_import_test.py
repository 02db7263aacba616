"""FMA's own tracks.csv (the real first 300 rows in ../shared) to a manifest."""

import csv
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import SHARED_DATA
from conftest import fails_in_one_line
from conftest import read_by_catalogue_flagfile
from conftest import run_module
from spotipop import errors
from spotipop.data import catalogue_flags
from spotipop.data import fma_import

SAMPLE = os.path.join(SHARED_DATA, 'fma_sample')


def _fma_rows():
  """The sample's rows as {track_id: {'group.name': text}}, read plainly."""
  with open(os.path.join(SAMPLE, 'tracks.csv'), newline='') as f:
    reader = csv.reader(f)
    top, names, _ = next(reader), next(reader), next(reader)
    keys = [f'{a}.{b}' for a, b in zip(top, names)]
    return {row[0]: dict(zip(keys[1:], row[1:])) for row in reader}


@pytest.fixture(scope='module')
def audio(tmp_path_factory):
  """An FMA audio tree holding the small and medium subsets' files, but for
  the first medium one."""
  folder = tmp_path_factory.mktemp('fma_audio')
  rows = _fma_rows()
  wanted = [t for t, r in rows.items() if r['set.subset'] in ('small', 'medium')]
  for track_id in wanted[1:]:
    path = folder / fma_import.audio_path(track_id)
    path.parent.mkdir(exist_ok=True)
    sf.write(path, np.zeros(800, np.float32), 8000, format='MP3')
  return folder, wanted[0], rows


def test_the_reader_takes_fmas_three_header_rows_and_multiline_cells():
  table = fma_import.read_table(os.path.join(SAMPLE, 'tracks.csv'))
  assert len(table) == 300 and list(table)[:2] == ['2', '3']
  assert table['2']['track.listens'] == '1293'
  assert table['2']['track.date_created'] == '2008-11-26 01:48:12'
  assert '\n' in ''.join(r['artist.bio'] for r in table.values())
  assert table == _fma_rows()


def test_the_small_subset_becomes_a_manifest_with_counts_and_licences(
    audio, tmp_path):
  folder, missing, rows = audio
  imported = fma_import.write_manifest(SAMPLE, str(folder), str(tmp_path),
                                       'small')
  small = [t for t, r in rows.items() if r['set.subset'] == 'small']
  with open(imported.manifest) as f:
    written = list(csv.DictReader(f))
  assert [r['track_id'] for r in written] == [t for t in small if t != missing]
  first = written[0]
  source = rows[first['track_id']]
  assert first['audio_path'] == fma_import.audio_path(first['track_id'])
  assert first['audio_path'].startswith('000/000')
  assert (first['listens'], first['favorites'], first['interest']) == (
      source['track.listens'], source['track.favorites'],
      source['track.interest'])
  assert (first['genre'], first['artist_id'], first['license']) == (
      source['track.genre_top'], source['artist.id'],
      source['track.license'].strip())
  assert imported.with_echonest == 0  # The sample has no echonest.csv.
  # The first medium track is not small: nothing is missing from small.
  assert imported.missing_audio == [t for t in small if t == missing]


def test_subsets_nest_and_a_missing_file_is_listed_not_fatal(audio, tmp_path):
  folder, missing, rows = audio
  imported = fma_import.write_manifest(SAMPLE, str(folder), str(tmp_path),
                                       'medium')
  wanted = [t for t, r in rows.items() if r['set.subset'] in ('small',
                                                               'medium')]
  assert imported.tracks == len(wanted) - 1 == 49
  assert imported.missing_audio == [missing]
  listed = (tmp_path / 'missing_audio.txt').read_text()
  assert listed == f'{missing}\t{fma_import.audio_path(missing)}\n'


def test_licences_are_kept_and_can_exclude_tracks(audio, tmp_path):
  folder, _, _ = audio
  everything = fma_import.write_manifest(SAMPLE, str(folder),
                                         str(tmp_path / 'all'), 'medium')
  with open(everything.manifest) as f:
    written = list(csv.DictReader(f))
  no_nd = fma_import.write_manifest(SAMPLE, str(folder), str(tmp_path / 'nd'),
                                    'medium', exclude=('no_derivatives',))
  derivative_free = sum(r['no_derivatives'] == 'True' for r in written)
  assert 0 < derivative_free < len(written)
  assert no_nd.tracks == len(written) - derivative_free
  assert no_nd.excluded == derivative_free
  with pytest.raises(errors.FlagError, match='--exclude'):
    fma_import.write_manifest(SAMPLE, str(folder), str(tmp_path), 'small',
                              exclude=('share_alike',))


def test_the_written_flagfile_reads_the_manifest_to_percentile_labels(
    audio, tmp_path):
  """Listens become percentiles within release year; timestamps are dates;
  artists are the groups."""
  folder, _, _ = audio
  imported = fma_import.write_manifest(SAMPLE, str(folder), str(tmp_path),
                                       'medium')
  read = read_by_catalogue_flagfile(catalogue_flags.flagfile(
      'fma', imported.manifest, str(folder), fma_import.FLAG_COLUMNS),
                                    tmp_path)
  assert len(read.tracks) == imported.tracks
  assert read.tracks[0].release_date == '2008-11-26'
  assert max(t.popularity for t in read.tracks) > 100  # Raw listens.


def _echonest_csv(path, features):
  """An echonest.csv in FMA's layout: three header levels, then track_id."""
  names = list(fma_import.ECHONEST) + ['artist_name']
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['', *['echonest'] * len(names)])
    writer.writerow(['', *['audio_features'] * len(fma_import.ECHONEST),
                     'metadata'])
    writer.writerow(['', *names])
    writer.writerow(['track_id', *[''] * len(names)])
    for track_id, values in features.items():
      writer.writerow([track_id, *values, 'AWOL'])


def test_echo_nest_features_join_their_tracks(audio, tmp_path):
  folder, _, rows = audio
  metadata = tmp_path / 'fma_metadata'
  metadata.mkdir()
  (metadata / 'tracks.csv').write_bytes(
      open(os.path.join(SAMPLE, 'tracks.csv'), 'rb').read())
  small = [t for t, r in rows.items() if r['set.subset'] == 'small']
  values = [f'0.{i + 1}' for i in range(len(fma_import.ECHONEST))]
  _echonest_csv(metadata / 'echonest.csv', {small[1]: values})
  imported = fma_import.write_manifest(str(metadata), str(folder),
                                       str(tmp_path / 'out'), 'small')
  assert imported.with_echonest == 1
  with open(imported.manifest) as f:
    written = {r['track_id']: r for r in csv.DictReader(f)}
  assert [written[small[1]][f'echonest_{n}'] for n in fma_import.ECHONEST] == (
      values)
  assert written[small[2]]['echonest_tempo'] == ''  # None for this one.


def test_a_file_that_is_not_an_fma_table_is_named(tmp_path):
  (tmp_path / 'tracks.csv').write_text('track_id,listens\n2,10\n')
  with pytest.raises(errors.ManifestError, match='tracks.csv: not an FMA '
                     'table: no row naming the index track_id'):
    fma_import.write_manifest(str(tmp_path), str(tmp_path), str(tmp_path))
  with pytest.raises(errors.ManifestError, match='cannot open'):
    fma_import.write_manifest(str(tmp_path / 'none'), str(tmp_path),
                              str(tmp_path))


@pytest.mark.slow
def test_the_catalogues_tool_writes_the_manifest_and_its_flagfile(audio,
                                                                  tmp_path):
  folder, _, _ = audio
  out = tmp_path / 'fma'
  result = run_module('spotipop.catalogues', 'fma',
                      f'--metadata_dir={SAMPLE}', f'--audio_dir={folder}',
                      f'--out={out}', '--subset=medium')
  assert result.stdout.startswith(f'{out}/manifest.csv: 49 tracks of the '
                                  'medium subset (0 with Echo Nest features); '
                                  '1 without their audio file')
  assert f'--flagfile={out}/fma.flags' in result.stdout
  assert (out / 'fma.flags').read_text().startswith('# Written by')
  bad = run_module('spotipop.catalogues', 'spotify', check=False)
  fails_in_one_line(bad, 'spotipop.catalogues', "('fma', 'jamendo')")
  unset = run_module('spotipop.catalogues', 'fma', f'--out={out}',
                     check=False)
  fails_in_one_line(unset, 'spotipop.catalogues', '--metadata_dir')


def test_without_an_audio_folder_the_metadata_alone_is_the_manifest(tmp_path):
  imported = fma_import.write_manifest(SAMPLE, None, str(tmp_path), 'full')
  assert imported.tracks == 300 and imported.missing_audio == []
  with open(imported.manifest) as f:
    first = next(csv.DictReader(f))
  assert (first['track_id'], first['duration'], first['bit_rate']) == (
      '2', '168', '256000')


def _table(path, levels, rows):
  """An FMA-shaped table: `levels` header rows above the track_id row."""
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerows(levels)
    writer.writerow(['track_id'] + [''] * (len(levels[0]) - 1))
    writer.writerows(rows)


@pytest.mark.parametrize('count', [1, fma_import.MAX_LEVELS])
def test_one_to_max_levels_header_rows_are_read(tmp_path, count):
  levels = [['', f'level{k}'] for k in range(count)]
  _table(tmp_path / 't.csv', levels, [['7', 'x']])
  name = '.'.join(f'level{k}' for k in range(count))
  assert fma_import.read_table(str(tmp_path / 't.csv')) == {'7': {name: 'x'}}


@pytest.mark.parametrize('rows', [fma_import.MAX_LEVELS + 1,
                                  fma_import.MAX_LEVELS + 3])
def test_a_table_with_no_index_row_within_its_first_rows_is_named(tmp_path,
                                                                  rows):
  """More header rows than MAX_LEVELS, whatever follows: not an FMA table."""
  levels = [['', f'level{k}'] for k in range(rows)]
  _table(tmp_path / 't.csv', levels, [['7', 'x']])
  with pytest.raises(errors.ManifestError,
                     match=r't\.csv: not an FMA table: no row naming the '
                     f'index track_id within its first {fma_import.MAX_LEVELS + 1} '
                     'rows'):
    fma_import.read_table(str(tmp_path / 't.csv'))


def _sample_with(tmp_path, change):
  """The sample's tracks.csv rewritten with change(header rows, rows)."""
  with open(os.path.join(SAMPLE, 'tracks.csv'), newline='') as f:
    rows = list(csv.reader(f))
  folder = tmp_path / 'metadata'
  folder.mkdir()
  with open(folder / 'tracks.csv', 'w', newline='') as f:
    csv.writer(f).writerows(change(rows[:3], rows[3:]))
  return str(folder)


def test_a_tracks_table_lacking_a_column_is_named(tmp_path):
  def drop_listens(header, rows):
    at = [f'{a}.{b}' for a, b in zip(*header[:2])].index('track.listens')
    return [[c for j, c in enumerate(r) if j != at] for r in header + rows]
  with pytest.raises(errors.ManifestError,
                     match=r"metadata/tracks\.csv: missing column\(s\) "
                     r"\['track\.listens'\]"):
    fma_import.write_manifest(_sample_with(tmp_path, drop_listens), None,
                              str(tmp_path / 'out'), 'full')


def test_a_tracks_table_of_no_rows_gives_an_empty_manifest(tmp_path):
  imported = fma_import.write_manifest(
      _sample_with(tmp_path, lambda header, rows: header), None,
      str(tmp_path / 'out'), 'full')
  assert imported.tracks == 0
  with open(tmp_path / 'out' / 'manifest.csv') as f:
    assert list(csv.DictReader(f)) == []


def test_full_is_every_track_whatever_its_subset_cell_says(tmp_path):
  def blank_subsets(header, rows):
    at = [f'{a}.{b}' for a, b in zip(*header[:2])].index('set.subset')
    return header + [[*r[:at], '', *r[at + 1:]] for r in rows]
  metadata = _sample_with(tmp_path, blank_subsets)
  assert fma_import.write_manifest(metadata, None, str(tmp_path / 'full'),
                                   'full').tracks == 300
  assert fma_import.write_manifest(metadata, None, str(tmp_path / 'large'),
                                   'large').tracks == 0


def test_the_files_are_written_where_the_docs_say_one_missing_file_a_line(
    audio, tmp_path):
  """OUT/manifest.csv and OUT/missing_audio.txt; here the audio folder
  lacks every large track's file."""
  folder, missing, rows = audio
  out = tmp_path / 'out'
  imported = fma_import.write_manifest(SAMPLE, str(folder), str(out), 'large')
  assert imported.manifest == str(out / 'manifest.csv')
  assert sorted(os.listdir(out)) == ['manifest.csv', 'missing_audio.txt']
  absent = [t for t, r in rows.items() if r['set.subset'] == 'large'
            or t == missing]
  assert len(absent) > 2 and imported.missing_audio == absent
  assert (out / 'missing_audio.txt').read_text() == ''.join(
      f'{t}\t{fma_import.audio_path(t)}\n' for t in absent)


@pytest.mark.parametrize('with_audio, audio', [
    (True, '2 without their audio file (listed in out/missing_audio.txt)'),
    (False, 'metadata only (no --audio_dir)')])
def test_the_summary_line_says_what_was_written_and_left_out(with_audio,
                                                             audio):
  imported = fma_import.Imported(manifest='out/manifest.csv', tracks=7,
                                 missing_audio=['3', '9'], excluded=4,
                                 with_echonest=5)
  assert fma_import.summary(imported, 'medium', 'out', with_audio) == (
      'out/manifest.csv: 7 tracks of the medium subset (5 with Echo Nest '
      f'features); {audio}, 4 left out by licence')
