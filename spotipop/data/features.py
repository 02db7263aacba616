"""The feature transform: fitted on the train split, applied to every row.

log1p on the heavy-tailed columns (--log1p_columns), then either a z-score
(--feature_transform=zscore) or each column's train-split CDF mapped to a
standard normal (quantile). Fit and apply live together so the two cannot
drift apart.
"""

from absl import logging
import numpy as np
from scipy import special

from spotipop import errors
from spotipop.audio import descriptor_names
from spotipop.config import DataConfig

QUANTILES = 1001
# A column whose train-split spread is under this fraction of its largest
# value is constant: below float32's resolution (2^-23 = 1.2e-7) a spread is
# rounding, and scaling by it would blow rounding noise up to millions.
CONSTANT_SPREAD = 1e-7


def model_columns(data: DataConfig):
  """The tabular features the model reads: the manifest's feature columns,
  then with --descriptors=audio the descriptors computed from the audio."""
  if data.descriptors != 'audio':
    return tuple(data.feature_columns)
  clash = sorted(set(data.feature_columns) & set(descriptor_names.NAMES))
  if clash:
    raise errors.FlagError(
        f'--feature_columns: {clash} are also descriptor names '
        '(--descriptors=audio computes them); rename the manifest columns')
  return (*data.feature_columns, *descriptor_names.NAMES)


def fit(train_tracks, data: DataConfig):
  """The feature transform's parameters, fitted on the train split only.

  Always: log1p where configured, then mean and std. For 'quantile' also
  QUANTILES evenly spaced quantiles of every (log1p'd) column. A column
  constant in the train split (CONSTANT_SPREAD) carries nothing to learn: it
  is fed as 0 to every split, and a warning names it.
  """
  columns = model_columns(data)
  log1p = np.array([c in data.log1p_columns for c in columns], bool)
  x = np.array([t.features for t in train_tracks], np.float64).reshape(
      len(train_tracks), len(columns))
  if np.any(x[:, log1p] <= -1):
    bad = [c for c, on in zip(columns, log1p)
           if on and np.any(x[:, columns.index(c)] <= -1)]
    raise errors.DataError(f'--log1p_columns: {bad} have values <= -1')
  x[:, log1p] = np.log1p(x[:, log1p])
  std = x.std(axis=0)
  constant = std <= CONSTANT_SPREAD * np.abs(x).max(axis=0, initial=0.0)
  if constant.any():
    logging.warning(
        'Feature columns constant in the train split, fed as 0 (nothing to '
        'learn from them; drop them from --feature_columns): %s',
        ', '.join(f'{c} (std {d:.2g} around {m:.6g})' for c, d, m, on in zip(
            columns, std, x.mean(axis=0), constant) if on))
  stats = {'columns': list(columns), 'log1p': log1p.tolist(),
           'transform': data.feature_transform,
           'mean': x.mean(axis=0).tolist(),
           'std': np.where(constant, 1.0, std).tolist(),
           'constant': constant.tolist()}
  if data.feature_transform == 'quantile':
    stats['quantiles'] = np.quantile(
        x, np.linspace(0, 1, QUANTILES), axis=0).T.tolist()
  return stats


def apply(features, stats):
  """The fitted transform (fit's stats) applied to feature rows."""
  x = np.asarray(features, np.float64)
  log1p = np.asarray(stats['log1p'], bool)
  below = log1p & np.any(x <= -1, axis=0)
  if below.any():
    raise ValueError(f'{np.asarray(stats["columns"])[below].tolist()}: values '
                     '<= -1 cannot go through log1p')
  x = np.where(log1p, np.log1p(np.where(log1p, x, 0)), x)
  if stats['transform'] == 'quantile':
    scaled = _normal_scores(x, np.asarray(stats['quantiles']))
  else:
    scaled = (x - np.asarray(stats['mean'])) / np.asarray(stats['std'])
  constant = np.asarray(stats['constant'] if 'constant' in stats else
                        _constant_of_old_stats(stats), bool)
  return np.where(constant, 0.0, scaled).astype(np.float32)


def _constant_of_old_stats(stats):
  """The constant columns of a transform fitted before they were recorded
  (a dataset built earlier): a spread under CONSTANT_SPREAD of the mean is
  rounding noise that scaling would blow up. (A spread of exactly 0 was
  stored as 1, which scales nothing.)"""
  return np.asarray(stats['std']) <= CONSTANT_SPREAD * np.abs(
      np.asarray(stats['mean']))


def _normal_scores(x, quantiles):
  """Each column's train-split CDF, then the standard normal quantile of it.

  Ties (a spike such as instrumentalness == 0) take the middle of their CDF
  step; values outside the train range clip to about +-3.1.
  """
  levels = np.linspace(0, 1, quantiles.shape[1])
  out = np.empty_like(x)
  for j, q in enumerate(quantiles):
    lower = np.interp(x[:, j], q, levels)
    upper = np.interp(-x[:, j], -q[::-1], levels[::-1])
    out[:, j] = special.ndtri(np.clip((lower + upper) / 2, 1e-3, 1 - 1e-3))
  return out
