"""Bootstrap intervals and paired comparisons over the tracks of a split.

Every metric of a report is recomputed on resamples of the evaluated split:
of its tracks, or of its groups (e.g. artists, with --split=group), since
one artist's tracks are not independent draws. A predictor is compared with
another on the same resamples, so the interval of their difference carries
only the noise that does not cancel between them.

A resample is a row of multiplicities (how often each track was drawn), so
each metric is computed for all resamples at once from one sort of the
scores. The thresholds stay the ones chosen on validation: they are part of
the predictor, not of the evaluated split. scipy.stats.bootstrap resamples
tracks only (no groups) and sorts every resample again;
benchmarks/bootstrap.py measures it beside this module.
"""

import numpy as np
from scipy import sparse

from spotipop.evaluation import metrics

CONFIDENCE = 0.95
# Resamples of a metric that may be undefined (one class drawn) before its
# interval is: past this share, the interval is null.
MAX_UNDEFINED_SHARE = 0.05
# Resamples computed at once: their multiplicities are a [block, tracks]
# matrix.
_BLOCK = 128
# Metrics compared between predictors: (name, higher is better).
COMPARED = (('roc_auc', True), ('average_precision', True), ('mcc', True),
            ('brier', False), ('mae', False), ('r2', True))


class Multiplicities:
  """[resamples, count] draws of `count` tracks with replacement; with
  groups (one label per track), of whole groups: each track is drawn as often
  as its group.

  The draws are made _BLOCK resamples at a time each time they are read, from
  the seed: memory holds [_BLOCK, count] whatever the resamples, and every
  predictor read on them sees the same draws.
  """

  def __init__(self, count, resamples, seed, groups=None):
    self.resamples, self.seed = resamples, seed
    if groups is None:
      self._units, self._member_of = count, None
    else:
      _, self._member_of = np.unique(np.asarray(groups), return_inverse=True)
      self._units = int(self._member_of.max()) + 1

  def __len__(self):
    return self.resamples

  def blocks(self):
    """The draws, _BLOCK resamples a block (the last shorter)."""
    rng = np.random.default_rng(self.seed)
    share = np.full(self._units, 1 / self._units)
    for start in range(0, self.resamples, _BLOCK):
      draws = rng.multinomial(self._units, share,
                              size=min(_BLOCK, self.resamples - start))
      yield draws if self._member_of is None else draws[:, self._member_of]

  def __array__(self, dtype=None, copy=None):
    del copy
    draws = np.concatenate(list(self.blocks()))
    return draws if dtype is None else draws.astype(dtype)


def multiplicities(count, resamples, seed, groups=None):
  """Multiplicities(count, resamples, seed, groups)."""
  return Multiplicities(count, resamples, seed, groups)


def _ties(values):
  """[ties, n] 0/1 matrix: which tracks' values fall in each run of equal
  values, the runs ascending; and each track's run."""
  _, tie_of = np.unique(np.asarray(values, np.float64), return_inverse=True)
  tie_of = tie_of.ravel()
  n = len(tie_of)
  return sparse.csr_matrix((np.ones(n), (tie_of, np.arange(n))),
                           shape=(tie_of.max() + 1, n)), tie_of


def _divide(a, b):
  return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan),
                   where=b != 0)


def _classification(w, labels, probability, threshold, ties):
  """classification_metrics for each column of multiplicities w [n, b];
  ties: _ties(probability)."""
  labels = np.asarray(labels, bool)
  probability = np.asarray(probability, np.float64)
  predicted = probability >= threshold
  tp, fp = (labels & predicted) @ w, (~labels & predicted) @ w
  fn, tn = (labels & ~predicted) @ w, (~labels & ~predicted) @ w
  count, positives, negatives = w.sum(0), tp + fn, tn + fp
  precision = np.where(tp + fp > 0, _divide(tp, tp + fp), 0.0)
  recall = np.where(positives > 0, _divide(tp, positives), 0.0)
  out = {
      'count': count, 'positive_rate': _divide(positives, count),
      'accuracy': _divide(tp + tn, count), 'precision': precision,
      'recall': recall, 'f1': metrics.f1_score(tp, fp, fn, tn),
      'mcc': metrics.mcc(tp, fp, fn, tn),
      'balanced_accuracy': (_divide(tp, positives) + _divide(tn, negatives)) / 2,
      'brier': _divide((probability - labels) ** 2 @ w, count),
  }
  # Drawn positives and negatives [ties, b] per run of tied probabilities,
  # ascending.
  ties = ties[0]
  pos, neg = ties @ (w * labels[:, None]), ties @ (w * ~labels[:, None])
  below = np.cumsum(neg, axis=0) - neg
  out['roc_auc'] = _divide((pos * (below + neg / 2)).sum(0),
                           positives * negatives)
  # Average precision walks the thresholds from the highest down.
  pos, neg = pos[::-1], neg[::-1]
  tp_at, fp_at = np.cumsum(pos, axis=0), np.cumsum(neg, axis=0)
  precision_at = np.where(pos > 0, _divide(tp_at, tp_at + fp_at), 0)
  out['average_precision'] = _divide((pos * precision_at).sum(0), positives)
  return out


def _mid_ranks(w, ties):
  """[ties, b] rank of each run of ties among each resample's draws, the
  run's draws (repeated draws included) sharing their mean rank, as
  scipy.stats.rankdata gives them; and the draws per run."""
  per_tie = ties[0] @ w
  return np.cumsum(per_tie, axis=0) - per_tie + (per_tie + 1) / 2, per_tie


def _scores(w, popularity, predicted, ties_a, ties_b):
  """score_metrics for each column of multiplicities w [n, b]; ties_a and
  ties_b: _ties of popularity and of predicted."""
  popularity = np.asarray(popularity, np.float64)
  predicted = np.asarray(predicted, np.float64)
  count = w.sum(0)
  error = predicted - popularity
  total = popularity ** 2 @ w - (popularity @ w) ** 2 / count
  out = {'mae': _divide(np.abs(error) @ w, count),
         'rmse': np.sqrt(_divide(error ** 2 @ w, count)),
         'r2': 1 - _divide(error ** 2 @ w, np.where(total > 1e-9, total, 0))}
  # Spearman: the weighted correlation of the draws' mid-ranks.
  (a, per_a), (b, per_b) = _mid_ranks(w, ties_a), _mid_ranks(w, ties_b)
  mean_a, mean_b = (a * per_a).sum(0) / count, (b * per_b).sum(0) / count
  var_a = (a * a * per_a).sum(0) / count - mean_a ** 2
  var_b = (b * b * per_b).sum(0) / count - mean_b ** 2
  # Sum over draws of rank_a * rank_b: each track's rank under a, weighted
  # by its draws, summed per run of ties under b.
  cross = ((ties_b[0] @ (w * a[ties_a[1]])) * b).sum(0) / count
  spread = np.sqrt(np.maximum(var_a, 0) * np.maximum(var_b, 0))
  out['spearman'] = _divide(cross - mean_a * mean_b,
                            np.where(spread > 1e-9, spread, 0))
  return out


def _block_metrics(block, labels, popularity, predictor, ties):
  """{metric: [b] values} of one predictor on one block of resamples."""
  out = {}
  if predictor.get('probability') is not None:
    out.update(_classification(block, labels, predictor['probability'],
                               predictor['threshold'], ties['probability']))
  if predictor.get('score') is not None:
    out.update(_scores(block, popularity, predictor['score'],
                       ties['popularity'], ties['score']))
  return out


def predictors_samples(w, labels, popularity, predictors):
  """{name: {metric: [b] values}} of each predictor ({'probability',
  'score', 'threshold'}, either output may be None) on each resample, every
  block of resamples drawn once for all of them."""
  # Runs of tied values, shared by every block of resamples; popularity's
  # by every predictor with a score.
  scored = any(p.get('score') is not None for p in predictors.values())
  popularity_ties = _ties(popularity) if scored else None
  ties = {}
  for name, predictor in predictors.items():
    probability, score = predictor.get('probability'), predictor.get('score')
    ties[name] = {
        'probability': None if probability is None else _ties(probability),
        'popularity': None if score is None else popularity_ties,
        'score': None if score is None else _ties(score)}
  out = {name: {} for name in predictors}
  blocks = (w.blocks() if isinstance(w, Multiplicities) else
            (w[start:start + _BLOCK] for start in range(0, len(w), _BLOCK)))
  for rows in blocks:
    # Resamples along columns: the per-tie sums and running sums below
    # then run along contiguous memory.
    block = np.ascontiguousarray(rows.T, dtype=np.float64)
    for name, predictor in predictors.items():
      for metric, values in _block_metrics(block, labels, popularity,
                                           predictor, ties[name]).items():
        out[name].setdefault(metric, []).append(values)
  return {name: {metric: np.concatenate(parts)
                 for metric, parts in metrics_.items()}
          for name, metrics_ in out.items()}


def metric_samples(w, labels, popularity, predictor):
  """{metric: [b] values} of one predictor on each resample."""
  return predictors_samples(w, labels, popularity, {'': predictor})['']


def interval(samples):
  """The central CONFIDENCE interval of a metric's resampled values; None
  when it is undefined on more than MAX_UNDEFINED_SHARE of them."""
  samples = np.asarray(samples, np.float64)
  finite = samples[np.isfinite(samples)]
  if len(finite) < (1 - MAX_UNDEFINED_SHARE) * len(samples):
    return None
  tail = (1 - CONFIDENCE) / 2 * 100
  return [float(np.percentile(finite, tail)),
          float(np.percentile(finite, 100 - tail))]


def paired(ours, theirs, higher_is_better=True):
  """Our metric minus theirs on the same resamples: its interval, a
  two-sided p-value for 'no difference' and a verdict word."""
  difference = np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)
  finite = difference[np.isfinite(difference)]
  bounds = interval(difference)
  if bounds is None:
    return {'interval': None, 'p_value': None, 'verdict': 'undefined'}
  # The share of resamples on the far side of zero, both tails.
  p_value = min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0)))
  if bounds[0] > 0 or bounds[1] < 0:
    better = (bounds[0] > 0) == higher_is_better
    verdict = 'better' if better else 'worse'
  else:
    verdict = 'not resolved'
  return {'interval': bounds, 'p_value': float(max(p_value, 1 / len(finite))),
          'verdict': verdict}
