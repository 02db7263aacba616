"""The Free Music Archive's metadata as a spotipop manifest.

FMA (Defferrard et al., ISMIR 2017) ships `fma_metadata/tracks.csv` in its
own format: header rows of a column's levels (in tracks.csv its group, such
as track or artist, then its name), then a row naming the index, track_id;
cells with line breaks inside quotes. `echonest.csv`, of Echo Nest features
for about 13,000 tracks, has three levels (echonest, audio_features,
acousticness) in the same style. Its audio is `AUDIO_DIR/000/000002.mp3`:
folders of 1,000 by the first three digits of the six-digit id.

`write_manifest` keeps one row per track of the chosen subset (FMA's
subsets nest: small within medium within large; full is every track):
its id and audio path, its listens, favorites and interest (counts, for
--popularity_from), top genre, artist id (for --split=group), date, licence
and, where it has them, its Echo Nest features. A track whose audio file is
missing is counted and listed, not fatal.
"""

import csv
import dataclasses
import os

from spotipop import errors
from spotipop.data import licences
from spotipop.storage import atomic_files
from spotipop.storage import user_strings

SUBSETS = ('small', 'medium', 'large', 'full')
# FMA column -> manifest column.
COLUMNS = {
    'track.listens': 'listens', 'track.favorites': 'favorites',
    'track.interest': 'interest', 'track.genre_top': 'genre',
    'artist.id': 'artist_id', 'track.date_created': 'date_created',
    'track.license': 'license', 'track.title': 'title',
    'artist.name': 'artist', 'set.subset': 'subset',
    'track.duration': 'duration', 'track.bit_rate': 'bit_rate',
}
# What the dense tower reads when the audio is not there: known at release.
METADATA_FEATURES = ('duration', 'bit_rate')
ECHONEST = ('acousticness', 'danceability', 'energy', 'instrumentalness',
            'liveness', 'speechiness', 'tempo', 'valence')


@dataclasses.dataclass(frozen=True)
class Imported:
  manifest: str
  tracks: int  # Rows written.
  missing_audio: list  # Track ids whose audio file is not there.
  excluded: int  # Tracks left out by their licence.
  with_echonest: int  # Rows with Echo Nest features.


def summary(imported, subset, out, with_audio):
  """The line `catalogues fma` prints of an import: what was written, and
  what was left out and why."""
  audio = (f'{len(imported.missing_audio)} without their audio file (listed '
           f'in {os.path.join(out, "missing_audio.txt")})' if with_audio
           else 'metadata only (no --audio_dir)')
  return (f'{imported.manifest}: {imported.tracks} tracks of the {subset} '
          f'subset ({imported.with_echonest} with Echo Nest features); '
          f'{audio}, {imported.excluded} left out by licence')


# Header levels above the track_id row that an FMA table may have.
MAX_LEVELS = 4


def read_table(path):
  """{track_id: {'level.level...': text}} of an FMA multi-header CSV: its
  header rows up to the one naming the index, track_id, joined by dots
  ('track.listens'; 'echonest.audio_features.tempo')."""
  try:
    f = open(path, newline='', encoding='utf-8')
  except OSError as e:
    raise errors.ManifestError(f'{path}: cannot open ({e.strerror})') from None
  with f:
    reader = csv.reader(f)
    levels = []
    for row in reader:
      if row[:1] == ['track_id']:
        break
      levels.append(row)
      if len(levels) > MAX_LEVELS:
        break
    if not levels or len(levels) > MAX_LEVELS:
      raise errors.ManifestError(
          f'{path}: not an FMA table: no row naming the index track_id within '
          f'its first {MAX_LEVELS + 1} rows')
    names = ['.'.join(parts) for parts in zip(*levels)]
    table = {}
    try:
      for row in reader:
        if row:
          table[row[0]] = dict(zip(names[1:], row[1:]))
    except csv.Error as e:
      raise errors.ManifestError(f'{path}:{reader.line_num}: {e}') from None
  return table


def audio_path(track_id):
  """FMA's layout: 000/000002.mp3 for track 2."""
  name = f'{int(track_id):06d}'
  return f'{name[:3]}/{name}.mp3'


def in_subset(track_subset, subset):
  if subset == 'full':
    return True
  return (track_subset in SUBSETS[:SUBSETS.index(subset) + 1])


def write_manifest(metadata_dir, audio_dir, out, subset='small',
                   exclude=()):
  """Writes OUT/manifest.csv (and OUT/missing_audio.txt) from FMA's metadata.

  exclude: licence terms (licences.TERMS) whose tracks are left out.
  audio_dir None: metadata alone; every track of the subset is kept.
  """
  if subset not in SUBSETS:
    raise errors.FlagError(f'--subset={subset}: use one of {SUBSETS}')
  licences.check_exclude(exclude)
  tracks = read_table(os.path.join(metadata_dir, 'tracks.csv'))
  missing_columns = sorted(set(COLUMNS) - set(next(iter(tracks.values()), {})))
  if tracks and missing_columns:
    raise errors.ManifestError(
        f'{metadata_dir}/tracks.csv: missing column(s) {missing_columns}')
  echonest_path = os.path.join(metadata_dir, 'echonest.csv')
  echonest = (read_table(echonest_path) if os.path.exists(echonest_path)
              else {})
  os.makedirs(out, exist_ok=True)
  rows, missing, excluded, with_echonest = [], [], 0, 0
  for track_id, track in tracks.items():
    if not in_subset(track['set.subset'], subset):
      continue
    terms = licences.terms_of_name(track['track.license'])
    if licences.excluded(terms, exclude):
      excluded += 1
      continue
    path = audio_path(track_id)
    if audio_dir is not None and not os.path.isfile(
        os.path.join(audio_dir, path)):
      missing.append(track_id)
      continue
    row = {'track_id': track_id, 'audio_path': path,
           **{name: track[column].strip() for column, name in COLUMNS.items()},
           **terms}
    features = echonest.get(track_id, {})
    for name in ECHONEST:
      row[f'echonest_{name}'] = features.get(
          f'echonest.audio_features.{name}', '')
    with_echonest += bool(features)
    rows.append(row)
  manifest = os.path.join(out, 'manifest.csv')
  header = ['track_id', 'audio_path', *COLUMNS.values(), *licences.TERMS,
            *(f'echonest_{name}' for name in ECHONEST)]
  with atomic_files.replaced(manifest, newline='') as f:
    writer = csv.DictWriter(f, fieldnames=header)
    writer.writeheader()
    writer.writerows(user_strings.csv_record(row) for row in rows)
  with atomic_files.replaced(os.path.join(out, 'missing_audio.txt')) as f:
    f.write(''.join(f'{track_id}\t{audio_path(track_id)}\n'
                    for track_id in missing))
  return Imported(manifest, len(rows), missing, excluded, with_echonest)


# Flag -> FMA manifest column, for catalogue_flags.flagfile. Echo Nest
# features cover too few tracks (about 13,000 of 106,574) to be a feature.
FLAG_COLUMNS = {
    'id_column': 'track_id', 'audio_column': 'audio_path',
    'popularity_column': 'listens', 'genre_column': 'genre',
    'release_column': 'date_created', 'group_column': 'artist_id'}
