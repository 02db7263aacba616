"""Scores new tracks with a trained run's best checkpoint.

One track, features as name=value pairs:

  python -m spotipop.predict --workdir=runs/default --audio=song.mp3 \\
      --genre=pop --features=danceability=0.71,energy=0.64,...

Many tracks, from a CSV with track_id, audio_path, the feature columns and
(optionally) genre:

  python -m spotipop.predict --workdir=runs/default --tracks=new_tracks.csv

Prints one line per track: the probability that it is popular and the
predicted popularity score (0-100).
"""

import itertools
import math

from absl import flags
from absl import logging
import numpy as np

from spotipop import cli
from spotipop import errors
from spotipop import inference
from spotipop import workdir as workdir_lib
from spotipop.data import catalog
from spotipop.data import manifest
from spotipop.data import pipeline


def parse_features(text, columns):
  """'name=value,...' -> values ordered as columns; errors name the feature."""
  values = {}
  for item in filter(None, (part.strip() for part in text.split(','))):
    name, sep, value = item.partition('=')
    if not sep:
      raise ValueError(f'--features: {item!r} is not name=value')
    if name not in columns:
      raise ValueError(f'--features: unknown feature {name!r}; the model '
                       f'uses {list(columns)}')
    try:
      values[name] = float(value)
    except ValueError:
      raise ValueError(f'--features: {name}={value!r} is not a number') from None
    if not math.isfinite(values[name]):
      raise ValueError(f'--features: {name} is {value!r} (NaN/Inf)')
  missing = [c for c in columns if c not in values]
  if missing:
    raise ValueError(f'--features: missing {missing}')
  return tuple(values[c] for c in columns)


class Predictor:
  """A restored model with its input transform, ready to score tracks."""

  def __init__(self, workdir, checkpoint='best'):
    self.config, self._dataset, model, state = workdir_lib.restore_run(
        workdir, checkpoint)
    self._params = state.params
    self._predict = inference.make_predict_step(model)

  @property
  def feature_columns(self):
    return self.config.data.feature_columns

  def __call__(self, audio_paths, features, genres, chunk=32):
    """(probability popular, popularity score 0-100) arrays for the tracks.

    Tracks are decoded in parallel, as when building a dataset, and scored
    `chunk` at a time, every chunk padded to one compiled shape.
    Tabular-only models ignore audio_paths.
    """
    clips = (catalog.ordered_map(catalog.clip_loader(self.config.data),
                                 audio_paths)
             if self.config.uses_audio else None)
    total = len(features)
    batch_size = min(chunk, total)
    probabilities, scores = [], []
    for start in range(0, total, chunk):
      count = len(features[start:start + chunk])
      inputs = dict(zip(('features', 'genre_id'), pipeline.model_inputs(
          features[start:start + chunk], genres[start:start + chunk],
          self._dataset)))
      if clips is not None:
        inputs['audio'] = np.stack(list(itertools.islice(clips, count)))
      probability, score = inference.predict_rows(
          self._predict, self._params, inputs, batch_size)
      probabilities.append(probability)
      scores.append(score)
      if total > chunk:
        logging.info('scored %d/%d tracks', start + count, total)
    return np.concatenate(probabilities), np.concatenate(scores)


def main(argv):
  del argv
  f = flags.FLAGS
  if bool(f.features) == bool(f.tracks):
    raise errors.SpotipopError('give either --features (with --audio unless '
                               'the model is tabular_only) or --tracks')
  predictor = Predictor(f.workdir, f.checkpoint)
  if f.features and predictor.config.uses_audio and not f.audio:
    raise errors.SpotipopError(f'--audio: the {predictor.config.model.towers} '
                               "model needs the track's audio file")
  try:
    if f.tracks:
      tracks = manifest.read(f.tracks, predictor.config.data, labelled=False,
                             with_audio=predictor.config.uses_audio).tracks
      ids = [t.track_id for t in tracks]
      paths = [t.audio_path for t in tracks]
      features = [t.features for t in tracks]
      genres = [t.genre for t in tracks]
    else:
      ids, paths, genres = [f.audio or 'track'], [f.audio], [f.genre]
      features = [parse_features(f.features, predictor.feature_columns)]
    probability, score = predictor(paths, features, genres)
  except ValueError as e:  # --features; names the feature.
    raise errors.SpotipopError(str(e)) from None
  for track_id, p, s in zip(ids, probability, score):
    print(f'{track_id}\tP(popular)={p:.3f}\tpredicted popularity={s:.1f}')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
  flags.DEFINE_string('checkpoint', 'best', "'best', 'latest' or a step number.")
  flags.DEFINE_string('audio', None, 'Audio file of one track (not needed by '
                      'tabular_only models).')
  flags.DEFINE_string('features', None, 'That track\'s features: name=value,...')
  flags.DEFINE_string('genre', 'unknown', 'That track\'s genre.')
  flags.DEFINE_string('tracks', None, 'CSV of tracks with the columns the run '
                      'was trained on (its id, audio, feature and, optionally, '
                      'genre columns).')
  flags.mark_flag_as_required('workdir')
  cli.run(main, 'spotipop.predict')
