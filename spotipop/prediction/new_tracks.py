"""Scoring new tracks with a trained run (`python -m spotipop.predict`).

The tracks come from a CSV with the columns the run was trained on, or as one
track's audio file and name=value features. A track whose audio cannot be
used is not scored; the others are.
"""

import itertools
import math
from typing import NamedTuple

from absl import logging
import numpy as np

from spotipop import errors
from spotipop.data import catalog
from spotipop.data import manifest
from spotipop.data import pipeline
from spotipop.explanation import explained_run
from spotipop.model import inference
from spotipop.run import workdir as workdir_lib


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
    self._explainer = (explained_run.Explainer(self.config, self._dataset, model,
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


class Tracks(NamedTuple):
  """Tracks to score, with where each came from for its error lines."""
  ids: list
  where: list  # 'file.csv:LINE', or '--audio' for a track given by flags.
  audio_paths: list
  features: list
  genres: list


def tracks_from_csv(path, config):
  """The tracks of a CSV with the run's columns (no popularity needed)."""
  tracks = manifest.read(path, config.data, labelled=False,
                         with_audio=config.uses_audio).tracks
  return Tracks([t.track_id for t in tracks], [f'{path}:{t.row}' for t in tracks],
                [t.audio_path for t in tracks], [t.features for t in tracks],
                [t.genre for t in tracks])


def track_from_flags(audio, features, genre, columns):
  """One track: its audio file (or None) and 'name=value,...' features."""
  return Tracks([audio or 'track'], ['--audio'], [audio],
                [parse_features(features, columns)], [genre])
