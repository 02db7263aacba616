"""The CSV manifest that describes a catalogue: one row per track."""

import csv
import dataclasses
import math
import os

REQUIRED_COLUMNS = ('track_id', 'audio_path', 'popularity', 'genre',
                    'release_year')
# Tracks to score need no popularity (that is what is predicted).
UNLABELLED_COLUMNS = ('track_id', 'audio_path')


class ManifestError(ValueError):
  """A manifest that cannot be used; the message names the file, row and column."""


@dataclasses.dataclass(frozen=True)
class Track:
  row: int  # Line number in the CSV (the header is line 1).
  track_id: str
  audio_path: str  # Absolute.
  popularity: float  # NaN for unlabelled tracks.
  genre: str
  release_year: int
  features: tuple[float, ...]


def _number(path, row, column, text):
  try:
    value = float(text)
  except ValueError:
    raise ManifestError(
        f'{path}:{row}: column {column!r} is not a number: {text!r}') from None
  if not math.isfinite(value):
    raise ManifestError(f'{path}:{row}: column {column!r} is {text!r} (NaN/Inf)')
  return value


def read(path, feature_columns, audio_dir=None, labelled=True):
  """Parses and validates the manifest; audio paths resolve against audio_dir.

  audio_dir defaults to the manifest's own folder. Unlabelled manifests (tracks
  to score) need only track_id, audio_path and the feature columns. Every problem is an error:
  a popularity model trained on silently dropped or imputed rows is not the
  model the user asked for.
  """
  audio_dir = audio_dir or os.path.dirname(os.path.abspath(path))
  try:
    f = open(path, newline='')
  except OSError as e:
    raise ManifestError(f'{path}: cannot open manifest ({e})') from e
  with f:
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    required = REQUIRED_COLUMNS if labelled else UNLABELLED_COLUMNS
    missing = [c for c in (*required, *feature_columns) if c not in header]
    if missing:
      raise ManifestError(f'{path}: missing column(s) {missing}; '
                          f'the header has {header}')
    tracks, seen = [], {}
    for row, record in enumerate(reader, start=2):
      track_id = (record['track_id'] or '').strip()
      if not track_id:
        raise ManifestError(f'{path}:{row}: empty track_id')
      if track_id in seen:
        raise ManifestError(f'{path}:{row}: track_id {track_id!r} repeats '
                            f'line {seen[track_id]}')
      seen[track_id] = row
      popularity, year = math.nan, 0
      if labelled:
        popularity = _number(path, row, 'popularity', record['popularity'])
        if not 0 <= popularity <= 100:
          raise ManifestError(
              f'{path}:{row}: popularity {popularity} is outside [0, 100]')
        year = _number(path, row, 'release_year', record['release_year'])
      tracks.append(Track(
          row=row,
          track_id=track_id,
          audio_path=os.path.join(audio_dir, record['audio_path']),
          popularity=popularity,
          genre=(record.get('genre') or 'unknown').strip(),
          release_year=int(year),
          features=tuple(_number(path, row, c, record[c])
                         for c in feature_columns)))
  if not tracks:
    raise ManifestError(f'{path}: no tracks')
  return tracks
