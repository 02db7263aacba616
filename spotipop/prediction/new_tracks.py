"""Scoring new tracks with a trained run (`python -m spotipop.predict`).

The tracks come from a CSV with the columns the run was trained on, or as one
track's audio file and name=value features. A track whose audio cannot be
used is not scored; the others are.
"""

import dataclasses
import itertools
import math
import os
from typing import NamedTuple

from absl import logging
import numpy as np

from spotipop import errors
from spotipop.audio import decode
from spotipop.data import catalog
from spotipop.data import features as features_lib
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
    """The feature columns a track brings; descriptors come from its audio."""
    return self.config.data.feature_columns

  def __call__(self, audio_paths, features, genres, chunk=32):
    """Scores the tracks: a Scores of (probability popular, score 0-100, failed).

    Tracks are decoded in parallel, as when building a dataset, and scored
    `chunk` at a time, every chunk padded to one compiled shape. With
    --descriptors=audio each track's descriptors are computed from its audio
    and join its features. A track whose audio cannot be used scores NaN, and
    failed maps its index to the reason; the others are scored all the same.
    A model that reads no audio ignores audio_paths.
    """
    data = self.config.data
    decoded = (catalog.ordered_map(_decoded_or_reason(data), audio_paths)
               if self.config.decodes_audio else None)
    total = len(features)
    batch_size = min(chunk, total)
    probabilities, scores, failed, reasons = [], [], {}, []
    # Stand in for a track that cannot be decoded; its scores become NaN.
    silence = np.zeros(catalog.num_samples(data), np.int16)
    no_values = (0.0,) * (len(features_lib.model_columns(data)) -
                          len(data.feature_columns))
    for start in range(0, total, chunk):
      rows = list(features[start:start + chunk])
      count = len(rows)
      chunk_decoded = (list(itertools.islice(decoded, count)) if decoded
                       else [((None, ()), None)] * count)
      for i, (_, reason) in enumerate(chunk_decoded):
        if reason is not None:
          failed[start + i] = reason
      rows = [(*row, *(no_values if reason else values))
              for row, ((_, values), reason) in zip(rows, chunk_decoded)]
      inputs = dict(zip(('features', 'genre_id'), pipeline.model_inputs(
          rows, genres[start:start + chunk], self._dataset)))
      if self.config.uses_audio:
        # As 16-bit PCM, as the build stores clips: a file scores as its
        # track does in evaluation (rounding to 16 bits moves the quietest
        # bins of a decoded MP3 or OGG, and with them its score).
        inputs['audio'] = np.stack([
            silence if clip is None else decode.to_pcm16(clip)
            for (clip, _), _ in chunk_decoded])
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


def _decoded_or_reason(data):
  load = catalog.audio_loader(data)

  def decoded_or_reason(path):
    try:
      return load(path), None
    except errors.AudioError as e:
      return (None, ()), str(e)
  return decoded_or_reason


class Tracks(NamedTuple):
  """Tracks to score, with where each came from for its error lines."""
  ids: list
  where: list  # 'file.csv:LINE', or '--audio' for a track given by flags.
  audio_paths: list
  features: list
  genres: list
  # CSV rows that could not be read: (line, id cell or None, the reason).
  rejected: tuple = ()


def tracks_from_csv(path, config):
  """The tracks of a CSV with the run's columns (no popularity needed).

  Its audio files may be anywhere, as --audio's may: the user lists the
  files to score, where a training manifest is a catalogue's own folder. A
  row with a bad cell (a feature value that is no number, empty or beyond
  float32) is rejected, not the file: the others are scored.
  """
  data = dataclasses.replace(config.data, audio_outside_dir=True)
  rejected = []
  tracks = manifest.read(path, data, labelled=False,
                         with_audio=config.decodes_audio,
                         rejected=rejected).tracks
  return Tracks([t.track_id for t in tracks], [f'{path}:{t.row}' for t in tracks],
                [t.audio_path for t in tracks], [t.features for t in tracks],
                [t.genre for t in tracks], tuple(rejected))


def tracks_from_files(paths, features, genre, columns):
  """Tracks from audio files and folders (their audio files, sorted), each
  named by its path; features ('name=value,...') describe the one track of a
  run whose model also reads feature columns."""
  files = []
  for path in paths:
    if os.path.isdir(path):
      found = sorted(os.path.join(folder, name)
                     for folder, _, names in os.walk(path) for name in names
                     if name.lower().endswith(decode.AUDIO_EXTENSIONS))
      if not found:
        raise errors.SpotipopError(
            f'{path}: no audio files ({", ".join(decode.AUDIO_EXTENSIONS)})')
      files += found
    else:
      files.append(path)
  if columns and not features:
    raise errors.SpotipopError(
        f'--features: the model also reads {list(columns)}; give them for '
        'one track, or use --tracks')
  if features and len(files) > 1:
    raise errors.SpotipopError(
        f'--features describes one track; {len(files)} audio files were '
        'given (use --tracks for many)')
  values = parse_features(features, columns) if features else ()
  return Tracks(files, files, files, [values] * len(files), [genre] * len(files))


def track_from_flags(features, genre, columns):
  """One track of a model that reads no audio: 'name=value,...' features."""
  return Tracks(['track'], ['--features'], [None],
                [parse_features(features, columns)], [genre])


def check_request(tracks_csv, paths, features):
  """Refuses, before a model is restored, a request that names no tracks,
  or names them both by a CSV and by audio files or features."""
  if tracks_csv and (paths or features):
    raise errors.SpotipopError('give either --tracks, or audio files '
                               '(--audio) and --features')
  if not (tracks_csv or paths or features):
    raise errors.SpotipopError('give --tracks, audio files (--audio) or, for '
                               'a model that reads no audio, --features')


def requested_tracks(config, columns, tracks_csv, paths, features, genre):
  """The tracks a checked request names, read as the run's model needs them:
  a CSV's rows; else audio files, for a model that decodes audio; else one
  track of --features.

  Raises errors.SpotipopError for a request the model cannot score, and
  ValueError naming a bad --features entry.
  """
  if tracks_csv:
    return tracks_from_csv(tracks_csv, config)
  if config.decodes_audio:
    if not paths:
      raise errors.SpotipopError(f'--audio: the {config.model.towers} model '
                                 "needs the track's audio file")
    return tracks_from_files(paths, features, genre, columns)
  if features:
    return track_from_flags(features, genre, columns)
  raise errors.SpotipopError(f'--features: the {config.model.towers} model '
                             f'reads no audio, only {list(columns)}')
