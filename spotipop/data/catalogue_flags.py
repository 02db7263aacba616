"""The flagfile a catalogue importer writes beside its manifest.

Every catalogue trains the same way: popularity is the percentile of its count
within release year (counts grow with a track's age), no artist is on two
sides of a split, and the tabular tower reads descriptors computed from the
audio, since real catalogues come without Spotify's features.
experiments/<catalogue>.flags hold the same lines for the README's paths.
"""

# The settings every catalogue shares, as flag lines.
SHARED = (
    '--popularity_from=percentile', '--popularity_within_year',
    '--split=group', '--descriptors=audio', '--feature_columns=',
    '--log1p_columns=', '--sample_rate=22050', '--clip_seconds=30',
    '--min_clip_seconds=10', '--n_fft=2048', '--hop_length=512',
    '--n_mels=128', '--batch_size=32')


def flagfile(catalogue, manifest, audio_dir, columns):
  """The flagfile's text. columns: {flag name: manifest column} for
  id_column, audio_column, popularity_column, genre_column, release_column
  and group_column."""
  return '\n'.join([
      f'# Written by python -m spotipop.catalogues {catalogue}.',
      f'--manifest={manifest}', f'--audio_dir={audio_dir}',
      f'--workdir=runs/{catalogue}',
      *(f'--{flag}={column}' for flag, column in columns.items()),
      *SHARED]) + '\n'
