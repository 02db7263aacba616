"""Manifest reading: column mapping, dates, genres, duplicates; errors name file, line, column."""

import csv
import math
import os
import re

import numpy as np
import pytest

from spotipop import errors
from spotipop.config import DataConfig
from spotipop.data import manifest

COLUMNS = ['track_id', 'audio_path', 'popularity', 'genre', 'release_year',
           'energy', 'tempo']
GOOD = ['t1', 'a.wav', '55', 'pop', '2001', '0.5', '120']
DATA = DataConfig(feature_columns=('energy', 'tempo'))


def _write(tmp_path, rows, header=COLUMNS, prefix=''):
  path = tmp_path / 'm.csv'
  with open(path, 'w', newline='', encoding='utf-8') as f:
    f.write(prefix)
    csv.writer(f).writerows([header, *rows])
  return str(path)


def test_reads_tracks_with_absolute_audio_paths(tmp_path):
  (track,) = manifest.read(_write(tmp_path, [GOOD]), DATA).tracks
  assert track.row == 2 and track.track_id == 't1'
  assert track.audio_path == str(tmp_path / 'a.wav')
  assert track.features == (0.5, 120.0) and track.release_year == 2001


def test_missing_columns_are_named(tmp_path):
  path = _write(tmp_path, [GOOD[:-1]], header=COLUMNS[:-1])
  with pytest.raises(errors.ManifestError,
                     match=r"m.csv: missing column\(s\) \['tempo'\]"):
    manifest.read(path, DATA)


@pytest.mark.parametrize('column,value,message', [
    ('energy', 'nan', r"m.csv:3: column 'energy' is 'nan'"),
    ('tempo', 'fast', r"m.csv:3: column 'tempo' is not a number: 'fast'"),
    # Finite, but Inf in float32: a run would diverge for no fixable reason.
    ('tempo', '1e308', r"m.csv:3: column 'tempo' is '1e308', beyond the "
     r"float32 range"),
    ('energy', '-3.5e38', r"m.csv:3: column 'energy' is '-3.5e38', beyond"),
    ('popularity', '140', r"m.csv:3: column 'popularity' is 140.0, outside"),
    ('track_id', 't1', r"m.csv:3: track_id 't1' repeats line 2"),
    ('release_year', '2019-13-01',
     r"m.csv:3: column 'release_year' cannot be read as a release_date: "
     r"'2019-13-01'"),
    ('genre', "['pop', 'rock'", r"m.csv:3: column 'genre' cannot be read as "
     r"a genre"),
])
def test_bad_rows_are_named(tmp_path, column, value, message):
  bad = list(GOOD)
  bad[0] = 't2'
  bad[COLUMNS.index(column)] = value
  with pytest.raises(errors.ManifestError, match=message):
    manifest.read(_write(tmp_path, [GOOD, bad]), DATA)


def test_unlabelled_manifest_needs_no_popularity(tmp_path):
  path = _write(tmp_path, [['new1', 'x.mp3', '0.9', '99']],
                header=['track_id', 'audio_path', 'energy', 'tempo'])
  (track,) = manifest.read(path, DATA, labelled=False).tracks
  assert math.isnan(track.popularity) and track.features == (0.9, 99.0)
  with pytest.raises(errors.ManifestError, match='popularity'):
    manifest.read(path, DATA)


def test_column_mapping_reads_a_spotify_export_as_it_comes(tmp_path):
  header = ['id', 'track_popularity', 'playlist_genre', 'album_release_date',
            'track_artist', 'energy', 'explicit']
  rows = [['a', '70', "['canadian pop', 'pop']", '2019-06-14', 'Drake',
           '0.5', 'True'],
          ['b', '10', '[]', '1999', '', '0.1', 'false'],
          ['c', '40', 'rock', '2004-07', 'Muse', '0.9', '0']]
  data = DataConfig(
      id_column='id', popularity_column='track_popularity',
      genre_column='playlist_genre', release_column='album_release_date',
      group_column='track_artist',
      feature_columns=('energy', 'explicit', 'release_year'))
  a, b, c = manifest.read(_write(tmp_path, rows, header), data,
                          with_audio=False).tracks
  assert (a.track_id, a.popularity, a.genre, a.group) == (
      'a', 70.0, 'canadian pop', 'Drake')
  assert a.release_date == '2019-06-14' and a.audio_path == ''
  # explicit as true/false text; release_year derived from the date column.
  assert a.features == (0.5, 1.0, 2019.0) and b.features == (0.1, 0.0, 1999.0)
  assert b.genre == 'unknown' and b.release_date == '1999-01-01'
  assert b.group == 'b (no track_artist)'  # An empty group is its own group.
  assert c.release_date == '2004-07-01' and c.release_year == 2004


@pytest.mark.parametrize('text,expected', [
    ('2019', '2019-01-01'), ('2019-06', '2019-06-01'),
    ('2019-06-14', '2019-06-14'), ('2019.0', '2019-01-01'),
    ('1957-1-5', '1957-01-05'), ('2008-11-26 01:45:00', '2008-11-26'),
    ('2008-11-26T01:45:00Z', '2008-11-26'), ('2008-11-26T01:45', '2008-11-26'),
    ('2008-11-26T01:45:00.250+02:00', '2008-11-26'),
    ('2008-11-26 23:59:59-0500', '2008-11-26')])
def test_release_dates(text, expected):
  assert manifest.parse_release_date(text) == expected


@pytest.mark.parametrize('text', ['', '19', '2019-00-01', '2019-06-32',
                                  'June 2019', '2019.5', '2008-11-26T',
                                  '2008-11-26 01:45:00 UTC',
                                  '2008-13-26 01:45:00', '2008-11 01:45'])
def test_bad_release_dates_raise(text):
  with pytest.raises(ValueError):
    manifest.parse_release_date(text)


def test_without_an_id_column_tracks_are_numbered_by_line(tmp_path):
  rows = [GOOD, GOOD]  # Identical rows: no id to tell them apart.
  tracks = manifest.read(_write(tmp_path, rows),
                         DataConfig(id_column='',
                                    feature_columns=('energy',))).tracks
  assert [t.track_id for t in tracks] == ['line2', 'line3']


def test_keep_first_drops_repeats_and_lists_each(tmp_path):
  second = ['t2', *GOOD[1:]]
  path = _write(tmp_path, [GOOD, second, GOOD, GOOD])
  read = manifest.read(path, DataConfig(feature_columns=('energy',),
                                        duplicates='keep_first'))
  assert [t.track_id for t in read.tracks] == ['t1', 't2']
  assert read.duplicates == [{'row': 4, 'track_id': 't1', 'first_row': 2},
                             {'row': 5, 'track_id': 't1', 'first_row': 2}]


def test_tabular_reads_need_no_audio_column(tmp_path):
  header = [c for c in COLUMNS if c != 'audio_path']
  row = [v for c, v in zip(COLUMNS, GOOD) if c != 'audio_path']
  path = _write(tmp_path, [row], header)
  (track,) = manifest.read(path, DATA, with_audio=False).tracks
  assert track.audio_path == ''
  with pytest.raises(errors.ManifestError, match=r"\['audio_path'\]"):
    manifest.read(path, DATA)


def test_a_byte_order_mark_is_read_past(tmp_path):
  path = _write(tmp_path, [GOOD], prefix='\ufeff')
  (track,) = manifest.read(path, DATA).tracks
  assert track.track_id == 't1'


@pytest.mark.parametrize('value,ok', [('0', True), ('100', True),
                                      ('-0.01', False), ('100.01', False)])
def test_popularity_is_read_on_both_ends_of_its_range(tmp_path, value, ok):
  path = _write(tmp_path, [GOOD[:2] + [value] + GOOD[3:]])
  if ok:
    (track,) = manifest.read(path, DATA).tracks
    assert track.popularity == float(value)
  else:
    with pytest.raises(errors.ManifestError,
                       match=rf"m.csv:2: column 'popularity' is {value}"):
      manifest.read(path, DATA)


def test_values_up_to_the_largest_float32_are_read(tmp_path):
  largest = float(np.finfo(np.float32).max)
  row = list(GOOD)
  row[COLUMNS.index('tempo')] = repr(largest)
  row[COLUMNS.index('energy')] = repr(-largest)
  (track,) = manifest.read(_write(tmp_path, [row]), DATA).tracks
  assert track.features == (-largest, largest)


@pytest.mark.parametrize('text,expected', [
    ('1000.0', '1000-01-01'), ('9999.0', '9999-01-01'),
    ('2019-12-31', '2019-12-31'), ('2019-01-01', '2019-01-01')])
def test_release_dates_on_each_edge_are_read(text, expected):
  assert manifest.parse_release_date(text) == expected


@pytest.mark.parametrize('text', ['999.0', '10000.0', '2019-12-32',
                                  '2019-13-31'])
def test_release_dates_just_past_each_edge_raise(text):
  with pytest.raises(ValueError):
    manifest.parse_release_date(text)


@pytest.mark.parametrize('column,value,message', [
    ('energy', '', r"^\S*m.csv:2: column 'energy' is not a number: ''$"),
    ('popularity', 'abc',
     r"^\S*m.csv:2: column 'popularity' is not a number: 'abc'$"),
    ('release_year', '',
     r"^\S*m.csv:2: column 'release_year' cannot be read as a release_date: "
     r"''$"),
    ('audio_path', ' ', r"^\S*m.csv:2: empty 'audio_path'$"),
    ('audio_path', '', r"^\S*m.csv:2: empty 'audio_path'$"),
])
def test_empty_and_unreadable_cells_are_quoted_as_written(
    tmp_path, column, value, message):
  row = list(GOOD)
  row[COLUMNS.index(column)] = value
  with pytest.raises(errors.ManifestError, match=message):
    manifest.read(_write(tmp_path, [row]), DATA)


def test_a_short_row_missing_its_id_is_named(tmp_path):
  # A row that stops early leaves its last cells empty (None in csv).
  header = ['audio_path', 'energy', 'tempo', 'popularity', 'track_id']
  path = _write(tmp_path, [['a.wav', '0.5', '120', '50']], header)
  data = DataConfig(feature_columns=('energy', 'tempo'), genre_column='',
                    release_column='', group_column='')
  with pytest.raises(errors.ManifestError, match=r"m.csv:2: empty 'track_id'"):
    manifest.read(path, data)


def test_a_track_without_genre_date_or_group_columns_reads_as_unknown(
    tmp_path):
  path = _write(tmp_path, [['new1', 'x.mp3', '0.9', '99']],
                header=['track_id', 'audio_path', 'energy', 'tempo'])
  (track,) = manifest.read(path, DATA, labelled=False).tracks
  assert (track.genre, track.release_date, track.group) == ('unknown', '', '')
  assert track.release_year == 0


def test_an_empty_genre_cell_is_unknown(tmp_path):
  row = list(GOOD)
  row[COLUMNS.index('genre')] = ''
  (track,) = manifest.read(_write(tmp_path, [row]), DATA).tracks
  assert track.genre == 'unknown'


def test_release_year_is_required_unless_a_release_column_gives_it(tmp_path):
  data = DataConfig(feature_columns=('energy', 'release_year'),
                    release_column='released', genre_column='')
  header = ['track_id', 'audio_path', 'popularity', 'energy']
  with pytest.raises(errors.ManifestError,
                     match=r"missing column\(s\) \['released', "
                     r"'release_year'\]"):
    manifest.read(_write(tmp_path, [['t1', 'a.wav', '5', '0.5']], header), data)
  # With the date column, the year is derived, but every other feature
  # column is still required at the header.
  header = ['track_id', 'audio_path', 'popularity', 'released']
  with pytest.raises(errors.ManifestError,
                     match=r"missing column\(s\) \['energy'\]"):
    manifest.read(_write(tmp_path, [['t1', 'a.wav', '5', '2001']], header),
                  data)


def test_a_quoted_cell_keeps_its_line_break(tmp_path):
  # csv needs newline='' to keep a line break inside quotes as written.
  path = tmp_path / 'm.csv'
  path.write_bytes(b'track_id,audio_path,popularity,genre,release_year,'
                   b'energy,tempo\r\n"t\r\n1",a.wav,55,pop,2001,0.5,120\r\n')
  (track,) = manifest.read(str(path), DATA).tracks
  assert track.track_id == 't\r\n1'


def test_a_ten_megabyte_cell_is_named_on_its_own_line(tmp_path):
  rows = [[f't{i}', *GOOD[1:]] for i in range(6)]
  rows[4][3] = 'x' * 10_000_000  # Line 6: the header, then rows 2-5.
  with pytest.raises(errors.ManifestError, match=(
      r'm\.csv:6: a cell longer than 131,072 characters \(read to line 6\): '
      r'a quote left open')):
    manifest.read(_write(tmp_path, rows), DATA)


def test_a_quote_left_open_is_named_where_its_record_starts(tmp_path):
  path = tmp_path / 'm.csv'
  body = ''.join(f't{i},a.wav,55,pop,2001,0.5,120\n' for i in range(3))
  path.write_text(','.join(COLUMNS) + '\n' + body + 't9,"a.wav,55,pop\n' +
                  ('lost words\n' * 20000))
  with pytest.raises(errors.ManifestError, match=(
      r'm\.csv:5: a cell longer than 131,072 characters \(read to line '
      r'\d{4,}\)')):
    manifest.read(str(path), DATA)


def test_bytes_that_are_not_utf8_are_named_at_their_line_and_byte(tmp_path):
  path = tmp_path / 'm.csv'
  lines = [','.join(COLUMNS)] + [f't{i},a.wav,55,pop,2001,0.5,120'
                                 for i in range(3000)]
  lines[2500] = 't2499,a.wav,55,caf\xe9,2001,0.5,120'
  path.write_bytes('\n'.join(lines).encode('latin-1'))
  with pytest.raises(errors.ManifestError, match=(
      r"^.*m\.csv:2501: not UTF-8 at byte 19 of the line \(b'\\xe9,20'\); "
      'save the file as CSV UTF-8$')):
    manifest.read(str(path), DATA)


@pytest.mark.parametrize('name', ['../../../etc/passwd', '/etc/passwd',
                                  'sub/../../outside.wav'])
def test_an_audio_path_that_leaves_the_audio_folder_is_refused(tmp_path,
                                                               name):
  path = _write(tmp_path, [GOOD, ['t2', name, *GOOD[2:]]])
  with pytest.raises(errors.ManifestError, match=(
      rf"m\.csv:3: column 'audio_path' is '{re.escape(name)}', outside the "
      rf'audio folder {tmp_path} \(--audio_outside_dir allows it\)')):
    manifest.read(path, DATA)
  allowed = manifest.read(path, DataConfig(feature_columns=('energy', 'tempo'),
                                           audio_outside_dir=True))
  assert allowed.tracks[1].audio_path == os.path.normpath(
      os.path.join(str(tmp_path), name))


@pytest.mark.parametrize('name', ['a.wav', 'sub/a.wav', './sub/../a.wav',
                                  'sub/./b.wav'])
def test_audio_paths_under_the_audio_folder_read(tmp_path, name):
  path = _write(tmp_path, [[*GOOD[:1], name, *GOOD[2:]]])
  (track,) = manifest.read(path, DATA).tracks
  assert track.audio_path == os.path.normpath(os.path.join(str(tmp_path),
                                                           name))
  folder = tmp_path / 'audio'
  (track,) = manifest.read(path, DataConfig(
      feature_columns=('energy', 'tempo'), audio_dir=str(folder))).tracks
  assert track.audio_path.startswith(f'{folder}{os.sep}')


def test_tracks_to_score_reject_a_bad_row_not_the_file(tmp_path):
  rows = [GOOD, ['t2', 'a.wav', '55', 'pop', '2001', 'abc', '120'],
          ['t3', 'a.wav', '55', 'pop', '2001', '0.5', ''],
          ['t4', 'a.wav', '55', 'pop', '2001', '0.5', '1e308'],
          ['t5', *GOOD[1:]]]
  path = _write(tmp_path, rows)
  with pytest.raises(errors.ManifestError, match=r"m\.csv:3: column 'energy'"):
    manifest.read(path, DATA, labelled=False)
  rejected = []
  read = manifest.read(path, DATA, labelled=False, rejected=rejected)
  assert [t.track_id for t in read.tracks] == ['t1', 't5']
  assert [(line, track_id) for line, track_id, _ in rejected] == [
      (3, 't2'), (4, 't3'), (5, 't4')]
  assert "m.csv:5: column 'tempo'" in rejected[2][2]
  everything_bad = _write(tmp_path, rows[1:4])
  with pytest.raises(errors.ManifestError, match=(
      r"no tracks; every row was rejected, the first: .*m\.csv:2: column "
      "'energy'")):
    manifest.read(everything_bad, DATA, labelled=False, rejected=[])


def test_a_row_after_a_cell_with_line_breaks_is_named_on_its_own_line(
    tmp_path):
  path = tmp_path / 'm.csv'
  path.write_text(','.join(COLUMNS) + '\n' +
                  't1,a.wav,55,"two\nline\ngenre",2001,0.5,120\n'
                  't2,a.wav,55,pop,2001,oops,120\n')
  with pytest.raises(errors.ManifestError, match=r"m\.csv:5: column 'energy'"):
    manifest.read(str(path), DATA)
