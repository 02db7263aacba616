"""Manifest validation: every problem names the file, the line and the column."""

import csv
import math

import pytest

from spotipop.data import manifest

COLUMNS = ['track_id', 'audio_path', 'popularity', 'genre', 'release_year',
           'energy', 'tempo']
GOOD = ['t1', 'a.wav', '55', 'pop', '2001', '0.5', '120']


def _write(tmp_path, rows, header=COLUMNS):
  path = tmp_path / 'm.csv'
  with open(path, 'w', newline='') as f:
    csv.writer(f).writerows([header, *rows])
  return str(path)


def test_reads_tracks_with_absolute_audio_paths(tmp_path):
  tracks = manifest.read(_write(tmp_path, [GOOD]), ('energy', 'tempo'))
  (track,) = tracks
  assert track.row == 2 and track.track_id == 't1'
  assert track.audio_path == str(tmp_path / 'a.wav')
  assert track.features == (0.5, 120.0) and track.release_year == 2001


def test_missing_columns_are_named(tmp_path):
  path = _write(tmp_path, [GOOD[:-1]], header=COLUMNS[:-1])
  with pytest.raises(manifest.ManifestError, match=r"m.csv: missing column\(s\) \['tempo'\]"):
    manifest.read(path, ('energy', 'tempo'))


@pytest.mark.parametrize('column,value,message', [
    ('energy', 'nan', r"m.csv:3: column 'energy' is 'nan'"),
    ('tempo', 'fast', r"m.csv:3: column 'tempo' is not a number: 'fast'"),
    ('popularity', '140', r'm.csv:3: popularity 140.0 is outside'),
    ('track_id', 't1', r"m.csv:3: track_id 't1' repeats line 2"),
])
def test_bad_rows_are_named(tmp_path, column, value, message):
  bad = list(GOOD)
  bad[0] = 't2'
  bad[COLUMNS.index(column)] = value
  with pytest.raises(manifest.ManifestError, match=message):
    manifest.read(_write(tmp_path, [GOOD, bad]), ('energy', 'tempo'))


def test_unlabelled_manifest_needs_no_popularity(tmp_path):
  path = _write(tmp_path, [['new1', 'x.mp3', '0.9', '99']],
                header=['track_id', 'audio_path', 'energy', 'tempo'])
  (track,) = manifest.read(path, ('energy', 'tempo'), labelled=False)
  assert math.isnan(track.popularity) and track.features == (0.9, 99.0)
  with pytest.raises(manifest.ManifestError, match='popularity'):
    manifest.read(path, ('energy', 'tempo'))
