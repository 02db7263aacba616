"""The flagfile a catalogue importer writes beside its manifest.

Every catalogue trains the same way: popularity is the percentile of its count
within release year (counts grow with a track's age), no artist is on two
sides of a split, and the tabular tower reads descriptors computed from the
audio, since real catalogues come without Spotify's features. Without audio
(a catalogue's metadata alone) only the dense tower trains, on the metadata
columns the importer names. experiments/<catalogue>.flags hold the same lines
for the README's paths.
"""

# The label and split every catalogue shares, as flag lines.
LABEL_AND_SPLIT = ('--popularity_from=percentile', '--popularity_within_year',
                   '--split=group')
# Audio: descriptors as the features, the conv tower on a 30 s clip.
WITH_AUDIO = (
    '--descriptors=audio', '--feature_columns=', '--log1p_columns=',
    '--sample_rate=22050', '--clip_seconds=30', '--min_clip_seconds=10',
    '--n_fft=2048', '--hop_length=512', '--n_mels=128', '--batch_size=32')


def flagfile(catalogue, manifest, audio_dir, columns, metadata_features=()):
  """The flagfile's text. columns: {flag name: manifest column} for
  id_column, audio_column, popularity_column, genre_column, release_column
  and group_column. audio_dir None: no audio; the dense tower alone on
  metadata_features (log1p'd: durations and bit rates are skewed)."""
  if audio_dir is None:
    model = ('--towers=tabular_only',
             f'--feature_columns={",".join(metadata_features)}',
             f'--log1p_columns={",".join(metadata_features)}')
    name = f'{catalogue}_metadata'
  else:
    model = (f'--audio_dir={audio_dir}', *WITH_AUDIO)
    name = catalogue
  return '\n'.join([
      f'# Written by python -m spotipop.catalogues {catalogue}.',
      f'--manifest={manifest}', f'--workdir=runs/{name}',
      *(f'--{flag}={column}' for flag, column in columns.items()),
      *LABEL_AND_SPLIT, *model]) + '\n'
