"""The CSV manifest that describes a catalogue: one row per track.

Real exports (Spotify API dumps, label back-catalogues) come with their own
column names, dates as text and genres as lists; DataConfig's *_column fields
map them, so a CSV is read as it comes.
"""

import ast
import csv
import dataclasses
import math
import os
import re

import numpy as np

from spotipop import errors
from spotipop.config import DataConfig

# Derived from the release column when the manifest has no such column.
RELEASE_YEAR = 'release_year'
# YYYY, YYYY-MM, YYYY-MM-DD, and ISO 8601 timestamps (FMA's
# '2008-11-26 01:45:00', '2008-11-26T01:45:00Z', with seconds' fractions or
# an offset), whose time of day is dropped: releases are ordered by day.
_DATE = re.compile(r'(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})'
                   r'(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?'
                   r'(?:Z|[+-]\d{2}:?\d{2})?)?)?)?')
_BOOLEANS = {'true': 1.0, 'false': 0.0}


@dataclasses.dataclass(frozen=True)
class Track:
  row: int  # Line number in the CSV (the header is line 1).
  track_id: str
  audio_path: str  # Absolute; '' when audio is not read.
  popularity: float  # NaN for unlabelled tracks.
  genre: str
  release_date: str  # 'YYYY-MM-DD', missing parts as 01; '' if unknown.
  group: str  # E.g. the artist; '' without a group column.
  features: tuple[float, ...]

  @property
  def release_year(self):
    return int(self.release_date[:4]) if self.release_date else 0


@dataclasses.dataclass(frozen=True)
class Manifest:
  tracks: list[Track]
  # Rows dropped under --duplicates=keep_first: {row, track_id, first_row}.
  duplicates: list[dict]


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _number(path, row, column, text):
  text = (text or '').strip()
  if text.lower() in _BOOLEANS:
    return _BOOLEANS[text.lower()]
  try:
    value = float(text)
  except ValueError:
    raise errors.ManifestError(
        f'{path}:{row}: column {column!r} is not a number: {text!r}') from None
  if not math.isfinite(value):
    raise errors.ManifestError(f'{path}:{row}: column {column!r} is {text!r} (NaN/Inf)')
  if abs(value) > FLOAT32_MAX:
    # The model computes in float32: such a value becomes Inf there, and the
    # run would diverge for a reason no learning rate can fix.
    raise errors.ManifestError(
        f'{path}:{row}: column {column!r} is {text!r}, beyond the float32 '
        f'range (+-{FLOAT32_MAX:.1e}) the model computes in')
  return value


def parse_release_date(text):
  """'2019', '2019-06', '2019-06-14', a timestamp such as
  '2019-06-14 01:45:00' or '2019-06-14T01:45:00Z', or a number like '2019.0'
  -> 'YYYY-MM-DD'.

  Missing month or day count as 01, so a year-only date sorts first in its
  year. Raises ValueError for anything else.
  """
  text = text.strip()
  match = _DATE.fullmatch(text)
  if match:
    year, month, day = (int(g) if g else 1 for g in match.groups())
  else:
    number = float(text)  # ValueError for text that is not a date.
    if not (number.is_integer() and 1000 <= number <= 9999):
      raise ValueError(text)
    year, month, day = int(number), 1, 1
  if not (1 <= month <= 12 and 1 <= day <= 31):
    raise ValueError(text)
  return f'{year:04d}-{month:02d}-{day:02d}'


def parse_genre(text):
  """A genre cell: plain text, or list text whose first entry is taken."""
  text = (text or '').strip()
  if text.startswith('['):
    values = ast.literal_eval(text)  # ValueError/SyntaxError when malformed.
    if not isinstance(values, list):
      raise ValueError(text)
    text = str(values[0]).strip() if values else ''
  return text or 'unknown'


def _cell(path, row, column, parse, text):
  try:
    return parse(text)
  except (ValueError, SyntaxError):
    raise errors.ManifestError(f'{path}:{row}: column {column!r} cannot be read as '
                               f'{parse.__name__.replace("parse_", "a ")}: '
                               f'{text!r}') from None


def required_columns(data: DataConfig, header, labelled, with_audio):
  """The manifest columns a read needs, release_year derived where possible."""
  mapped = [data.id_column, data.audio_column if with_audio else '']
  if labelled:
    mapped += [data.popularity_column, data.genre_column, data.release_column,
               data.group_column]
  derive_year = RELEASE_YEAR not in header and data.release_column in header
  features = [c for c in data.feature_columns
              if not (c == RELEASE_YEAR and derive_year)]
  return [c for c in dict.fromkeys([*mapped, *features]) if c]


def _records(reader):
  """(line, record) of a DictReader: the line each record starts on, which
  a cell with line breaks puts past its record count."""
  while True:
    line = reader.reader.line_num + 1
    try:
      record = next(reader)
    except StopIteration:
      return
    yield line, record


def read(path, data: DataConfig, labelled=True, with_audio=True,
         rejected=None):
  """Parses and validates a manifest under data's column mapping.

  Audio paths resolve against data.audio_dir, by default the manifest's own
  folder. Unlabelled manifests (tracks to score) need only the id, audio and
  feature columns. Every problem is an error naming file, line and column: a
  popularity model trained on silently dropped or imputed rows is not the
  model the user asked for. The one exception is --duplicates=keep_first,
  whose dropped rows are returned for the build report. Tracks to score may
  pass a list as `rejected`: a row with a bad cell is then appended to it as
  (line, its id cell or None, the error) and the others are read.
  """
  audio_dir = data.audio_dir or os.path.dirname(os.path.abspath(path))
  try:
    # utf-8-sig: spreadsheet "CSV UTF-8" exports start with a byte-order mark.
    f = open(path, newline='', encoding='utf-8-sig')
  except OSError as e:
    raise errors.ManifestError(f'{path}: cannot open manifest ({e})') from e
  with f:
    reader = csv.DictReader(f)
    try:
      header = reader.fieldnames or []
      missing = [c for c in required_columns(data, header, labelled,
                                             with_audio) if c not in header]
      if missing:
        raise errors.ManifestError(f'{path}: missing column(s) {missing}; '
                                   f'the header has {header}')
      tracks, duplicates, seen = [], [], {}
      for row, record in _records(reader):
        try:
          track = _track(path, row, record, data, labelled, with_audio,
                         audio_dir)
        except errors.ManifestError as e:
          if rejected is None:
            raise
          rejected.append((row, record.get(data.id_column), str(e)))
          continue
        if track.track_id in seen:
          if data.duplicates != 'keep_first':
            raise errors.ManifestError(
                f'{path}:{row}: {data.id_column or "track id"} '
                f'{track.track_id!r} repeats line {seen[track.track_id]} '
                '(--duplicates=keep_first keeps the first)')
          duplicates.append({'row': row, 'track_id': track.track_id,
                             'first_row': seen[track.track_id]})
          continue
        seen[track.track_id] = row
        tracks.append(track)
    except UnicodeDecodeError:
      raise errors.ManifestError(_undecodable(path)) from None
    except csv.Error as e:
      # DictReader's own line_num stops at the last whole record.
      start, reached = reader.line_num + 1, reader.reader.line_num
      if 'field limit' in str(e):
        raise errors.ManifestError(
            f'{path}:{start}: a cell longer than {csv.field_size_limit():,} '
            f'characters (read to line {reached}): a quote left open, or a '
            'column holding a whole document') from None
      raise errors.ManifestError(f'{path}:{start}: not readable as CSV '
                                 f'({e})') from None
  if not tracks:
    raise errors.ManifestError(
        f'{path}: no tracks' + (f'; every row was rejected, the first: '
                                f'{rejected[0][2]}' if rejected else ''))
  return Manifest(tracks, duplicates)


def _undecodable(path):
  """Where a manifest stops being UTF-8: its first such line and byte (the
  decoder's own position is within a read-ahead buffer, not the file)."""
  with open(path, 'rb') as f:
    for line, raw in enumerate(f, start=1):
      try:
        raw.decode('utf-8')
      except UnicodeDecodeError as e:
        return (f'{path}:{line}: not UTF-8 at byte {e.start + 1} of the line '
                f'({raw[e.start:e.start + 4]!r}); save the file as CSV UTF-8')
  return f'{path}: not UTF-8; save the file as CSV UTF-8'


def _track(path, row, record, data, labelled, with_audio, audio_dir):
  """One CSV record -> Track; errors name the line and column."""
  if data.id_column:
    track_id = (record[data.id_column] or '').strip()
    if not track_id:
      raise errors.ManifestError(f'{path}:{row}: empty {data.id_column!r}')
  else:
    track_id = f'line{row}'
  popularity, release_date, group = math.nan, '', ''
  if labelled:
    column = data.popularity_column
    popularity = _number(path, row, column, record[column])
    if data.popularity_from == 'score' and not 0 <= popularity <= 100:
      raise errors.ManifestError(
          f'{path}:{row}: column {column!r} is {popularity}, outside '
          '[0, 100] (a count needs --popularity_from=percentile or log_scale)')
    if data.group_column:
      # A track without a group value is a group of its own.
      group = ((record[data.group_column] or '').strip()
               or f'{track_id} (no {data.group_column})')
  if data.release_column in record:
    release_date = _cell(path, row, data.release_column, parse_release_date,
                         record[data.release_column] or '')
  genre = 'unknown'
  if data.genre_column in record:
    genre = _cell(path, row, data.genre_column, parse_genre,
                  record[data.genre_column])
  features = []
  for c in data.feature_columns:
    if c not in record and c == RELEASE_YEAR and release_date:
      features.append(float(release_date[:4]))
    else:
      features.append(_number(path, row, c, record.get(c)))
  audio_path = ''
  if with_audio:
    name = record[data.audio_column] or ''
    if not name.strip():
      raise errors.ManifestError(f'{path}:{row}: empty {data.audio_column!r}')
    audio_path = os.path.normpath(os.path.join(audio_dir, name))
    if not (data.audio_outside_dir or audio_path.startswith(
        os.path.join(os.path.normpath(audio_dir), ''))):
      raise errors.ManifestError(
          f'{path}:{row}: column {data.audio_column!r} is {name!r}, outside '
          f'the audio folder {audio_dir} (--audio_outside_dir allows it)')
  return Track(row=row, track_id=track_id, audio_path=audio_path,
               popularity=popularity, genre=genre, release_date=release_date,
               group=group, features=tuple(features))
