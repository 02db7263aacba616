"""Metrics over a whole split, computed on the host.

Popularity labels are skewed (95.8% of one published table is "popular"), so
accuracy and F1 reward predicting the majority class. MCC, balanced accuracy,
ROC-AUC, PR-AUC and the Brier score are reported next to them: the class prior
scores MCC 0, balanced accuracy 0.5 and ROC-AUC 0.5 on these, whatever the skew.
Undefined values (one class only) are NaN here and null in JSON.
"""

import math

import numpy as np

NAN = float('nan')


def _ranked(labels, scores):
  """Labels sorted by descending score, and the index ending each tie."""
  labels = np.asarray(labels, bool)
  scores = np.asarray(scores, np.float64)
  order = np.argsort(-scores, kind='stable')
  scores, labels = scores[order], labels[order]
  last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
  return labels, scores, last_of_tie


def _cumulative_counts(labels, scores):
  """(threshold, tp, fp) when predicting popular for score >= each threshold."""
  labels, scores, last_of_tie = _ranked(labels, scores)
  tp = np.cumsum(labels)[last_of_tie]
  fp = (last_of_tie + 1) - tp
  return scores[last_of_tie], tp, fp


def roc_curve(labels, scores):
  """False- and true-positive rates at every distinct score threshold."""
  labels = np.asarray(labels, bool)
  _, tp, fp = _cumulative_counts(labels, scores)
  tpr = np.r_[0.0, tp / max(labels.sum(), 1)]
  fpr = np.r_[0.0, fp / max((~labels).sum(), 1)]
  return fpr, tpr


def roc_auc(labels, scores):
  """Area under the ROC curve; NaN when only one class is present."""
  labels = np.asarray(labels, bool)
  if labels.all() or not labels.any():
    return NAN
  fpr, tpr = roc_curve(labels, scores)
  return float(np.trapezoid(tpr, fpr))


def average_precision(labels, scores):
  """PR-AUC as average precision: sum over thresholds of precision x recall gain.

  The class prior's score equals the positive rate, so compare against that.
  NaN without positives.
  """
  labels = np.asarray(labels, bool)
  if not labels.any():
    return NAN
  _, tp, fp = _cumulative_counts(labels, scores)
  recall = np.r_[0.0, tp / labels.sum()]
  precision = tp / (tp + fp)
  return float(np.sum(np.diff(recall) * precision))


def confusion(labels, predictions):
  """[[tn, fp], [fn, tp]]."""
  labels, predictions = np.asarray(labels, bool), np.asarray(predictions, bool)
  return np.array([[np.sum(~labels & ~predictions), np.sum(~labels & predictions)],
                   [np.sum(labels & ~predictions), np.sum(labels & predictions)]])


def mcc(tp, fp, fn, tn):
  """Matthews correlation; 0 where a row or column of the confusion is empty."""
  tp, fp, fn, tn = (np.asarray(x, np.float64) for x in (tp, fp, fn, tn))
  denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  return np.where(denominator > 0,
                  (tp * tn - fp * fn) / np.where(denominator > 0, denominator, 1),
                  0.0)


def balanced_accuracy(tp, fp, fn, tn):
  positives, negatives = tp + fn, tn + fp
  if not (np.all(positives) and np.all(negatives)):
    return np.full(np.shape(tp), NAN)
  return (tp / positives + tn / negatives) / 2


def f1_score(tp, fp, fn, tn):
  del tn
  tp, fp, fn = (np.asarray(x, np.float64) for x in (tp, fp, fn))
  denominator = 2 * tp + fp + fn
  return np.where(denominator > 0, 2 * tp / np.where(denominator > 0,
                                                     denominator, 1), 0.0)


CRITERIA = {'mcc': mcc, 'balanced_accuracy': balanced_accuracy, 'f1': f1_score}


def choose_threshold(labels, probabilities, criterion):
  """The probability threshold (predict popular when >=) maximising criterion.

  Every distinct probability is a candidate; ties go to the highest threshold.
  Where the criterion is undefined (one class only) the threshold is 0.5.
  """
  labels = np.asarray(labels, bool)
  thresholds, tp, fp = _cumulative_counts(labels, probabilities)
  fn, tn = labels.sum() - tp, (~labels).sum() - fp
  values = CRITERIA[criterion](tp, fp, fn, tn)
  if np.all(np.isnan(values)):
    return 0.5
  return float(thresholds[int(np.nanargmax(values))])


def classification_metrics(labels, probabilities, threshold=0.5):
  """Threshold metrics of the popular class, plus threshold-free ones."""
  labels = np.asarray(labels, bool)
  probabilities = np.asarray(probabilities, np.float64)
  (tn, fp), (fn, tp) = confusion(labels, probabilities >= threshold)
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  return {'count': int(labels.size),
          'positive_rate': float(labels.mean()) if labels.size else NAN,
          'accuracy': float((tp + tn) / max(labels.size, 1)),
          'precision': float(precision), 'recall': float(recall),
          'f1': float(f1_score(tp, fp, fn, tn)),
          'mcc': float(mcc(tp, fp, fn, tn)),
          'balanced_accuracy': float(balanced_accuracy(tp, fp, fn, tn)),
          'roc_auc': roc_auc(labels, probabilities),
          'average_precision': average_precision(labels, probabilities),
          'brier': (float(np.mean((probabilities - labels) ** 2))
                    if labels.size else NAN)}


def score_metrics(popularity, predicted):
  """Errors of the 0-100 popularity score: MAE, RMSE, R^2, Spearman rho."""
  popularity = np.asarray(popularity, np.float64)
  predicted = np.asarray(predicted, np.float64)
  error = predicted - popularity
  total = np.sum((popularity - popularity.mean()) ** 2)
  constant = np.ptp(popularity) == 0 or np.ptp(predicted) == 0
  return {'mae': float(np.mean(np.abs(error))),
          'rmse': float(np.sqrt(np.mean(error ** 2))),
          'r2': float(1 - np.sum(error ** 2) / total) if total > 0 else NAN,
          'spearman': NAN if constant else float(
              spearman(popularity, predicted))}


def spearman(a, b):
  """Spearman's rank correlation of two equally long sequences; NaN (with
  numpy's warning) where one is constant, so callers guard that case."""
  return np.corrcoef(average_ranks(a), average_ranks(b))[0, 1]


def average_ranks(values):
  """1-based ranks, tied values sharing the mean of their ranks (what
  Spearman's rho correlates). Written out: scipy.stats, which has it, is
  slow to import (benchmarks/startup.py), and every tool that reports would
  pay it."""
  _, index, counts = np.unique(values, return_inverse=True, return_counts=True)
  last = np.cumsum(counts)
  return (last - (counts - 1) / 2)[index]


def reliability(labels, probabilities, bins=10):
  """Calibration per equal-width probability bin: mean predicted vs observed."""
  labels = np.asarray(labels, np.float64)
  probabilities = np.asarray(probabilities, np.float64)
  index = np.minimum((probabilities * bins).astype(int), bins - 1)
  return [{'bin': [b / bins, (b + 1) / bins], 'count': int(np.sum(index == b)),
           'mean_probability': float(probabilities[index == b].mean()),
           'observed_rate': float(labels[index == b].mean())}
          for b in range(bins) if np.any(index == b)]


def breakdown(groups, labels, probabilities, threshold=0.5):
  """classification_metrics per group value, e.g. per genre or release decade."""
  groups = np.asarray(groups)
  return {str(g): classification_metrics(np.asarray(labels)[groups == g],
                                         np.asarray(probabilities)[groups == g],
                                         threshold)
          for g in sorted(set(groups.tolist()))}


def release_era(years):
  """Release decade labels, e.g. 1994 -> '1990s'; year 0 (unknown) -> 'unknown'."""
  return np.array([f'{(int(y) // 10) * 10}s' if y else 'unknown' for y in years])


def json_safe(value):
  """value with NaN/Inf floats as None, so json.dump writes valid JSON (null)."""
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if isinstance(value, (float, np.floating)):
    return float(value) if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value
