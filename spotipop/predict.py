"""Scores new tracks with a trained run's best checkpoint.

One track, features as name=value pairs:

  python -m spotipop.predict --workdir=runs/default --audio=song.mp3 \\
      --genre=pop --features=danceability=0.71,energy=0.64,...

Many tracks, from a CSV with track_id, audio_path, the feature columns and
(optionally) genre:

  python -m spotipop.predict --workdir=runs/default --tracks=new_tracks.csv

Prints one line per track: the probability that it is popular and the
predicted popularity score (0-100); with --explain=K, also the K inputs that
move its popular logit most (e.g. "why: energy +0.412, audio +0.230"). A track
whose audio cannot be used prints "not scored", its CSV line and reason go to
stderr, the others are scored, and the exit status is 2.
"""

import itertools
import math
from typing import NamedTuple

from absl import flags
from absl import logging
import numpy as np

from spotipop import cli
from spotipop import errors
from spotipop import explainer
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

  def __init__(self, workdir, checkpoint='best', explain=0):
    """explain: each track's that many largest contributions (0: none)."""
    self.config, self._dataset, model, state = workdir_lib.restore_run(
        workdir, checkpoint)
    self._params = state.params
    self._predict = inference.make_predict_step(model)
    self._explain = explain
    self._explainer = (explainer.Explainer(self.config, self._dataset, model,
                                           state.params)
                       if explain else None)

  @property
  def feature_columns(self):
    return self.config.data.feature_columns

  def __call__(self, audio_paths, features, genres, chunk=32):
    """Scores the tracks: a Scores of (probability popular, score 0-100, failed).

    Tracks are decoded in parallel, as when building a dataset, and scored
    `chunk` at a time, every chunk padded to one compiled shape. A track whose
    audio cannot be used scores NaN, and failed maps its index to the reason;
    the others are scored all the same. Tabular-only models ignore
    audio_paths.
    """
    clips = (catalog.ordered_map(_clip_or_reason(self.config.data),
                                 audio_paths)
             if self.config.uses_audio else None)
    total = len(features)
    batch_size = min(chunk, total)
    probabilities, scores, failed, reasons = [], [], {}, []
    # Stands in for a clip that cannot be decoded; its scores become NaN.
    silence = np.zeros(catalog.num_samples(self.config.data), np.float32)
    for start in range(0, total, chunk):
      count = len(features[start:start + chunk])
      inputs = dict(zip(('features', 'genre_id'), pipeline.model_inputs(
          features[start:start + chunk], genres[start:start + chunk],
          self._dataset)))
      if clips is not None:
        decoded = list(itertools.islice(clips, count))
        for i, (_, reason) in enumerate(decoded):
          if reason is not None:
            failed[start + i] = reason
        inputs['audio'] = np.stack([silence if clip is None else clip
                                    for clip, _ in decoded])
      probability, score = inference.predict_rows(
          self._predict, self._params, inputs, batch_size)
      if self._explainer:
        reasons += self._explainer.top_contributions(inputs, self._explain)
      probabilities.append(probability)
      scores.append(score)
      if total > chunk:
        logging.info('scored %d/%d tracks', start + count, total)
    probability, score = np.concatenate(probabilities), np.concatenate(scores)
    bad = list(failed)
    probability[bad], score[bad] = np.nan, np.nan
    return Scores(probability, score, failed, reasons or None)


class Scores(NamedTuple):
  probability: np.ndarray  # P(popular); NaN where the track failed.
  score: np.ndarray  # Predicted popularity 0-100; NaN where it failed.
  failed: dict  # {track index: why its audio cannot be used}
  # Per track, its largest contributions to the popular logit as (input,
  # value), integrated gradients from an average train track; None unless
  # the Predictor was asked to explain.
  contributions: list | None = None


def _clip_or_reason(data):
  load = catalog.clip_loader(data)

  def clip_or_reason(path):
    try:
      return load(path), None
    except errors.AudioError as e:
      return None, str(e)
  return clip_or_reason


def main(argv):
  del argv
  f = flags.FLAGS
  if bool(f.features) == bool(f.tracks):
    raise errors.SpotipopError('give either --features (with --audio unless '
                               'the model is tabular_only) or --tracks')
  predictor = Predictor(f.workdir, f.checkpoint, f.explain)
  if f.features and predictor.config.uses_audio and not f.audio:
    raise errors.SpotipopError(f'--audio: the {predictor.config.model.towers} '
                               "model needs the track's audio file")
  try:
    if f.tracks:
      tracks = manifest.read(f.tracks, predictor.config.data, labelled=False,
                             with_audio=predictor.config.uses_audio).tracks
      ids = [t.track_id for t in tracks]
      where = [f'{f.tracks}:{t.row}' for t in tracks]
      paths = [t.audio_path for t in tracks]
      features = [t.features for t in tracks]
      genres = [t.genre for t in tracks]
    else:
      ids, paths, genres = [f.audio or 'track'], [f.audio], [f.genre]
      where = ['--audio']
      features = [parse_features(f.features, predictor.feature_columns)]
    scores = predictor(paths, features, genres)
  except ValueError as e:  # --features; names the feature.
    raise errors.SpotipopError(str(e)) from None
  for i, track_id in enumerate(ids):
    if i in scores.failed:
      print(f'{track_id}\tnot scored', flush=True)
      logging.error('%s: %s', where[i], scores.failed[i])
    else:
      why = ('' if scores.contributions is None else '\twhy: ' + ', '.join(
          f'{name} {value:+.3f}' for name, value in scores.contributions[i]))
      print(f'{track_id}\tP(popular)={scores.probability[i]:.3f}\t'
            f'predicted popularity={scores.score[i]:.1f}{why}')
  if scores.failed:
    lines = ', '.join(where[i].rpartition(':')[2] if f.tracks else where[i]
                      for i in sorted(scores.failed))
    raise errors.SomeTracksFailed(
        f'{len(scores.failed)} of {len(ids)} track(s) not scored '
        f'({"lines " + lines if f.tracks else lines}: their audio cannot be '
        'used; the reasons are above)')


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
  flags.DEFINE_integer('explain', 0, "Add each track's K largest "
                       'contributions to the popular logit (integrated '
                       'gradients from an average train track; explain.py).',
                       lower_bound=0)
  flags.mark_flag_as_required('workdir')
  cli.run(main, 'spotipop.predict')
