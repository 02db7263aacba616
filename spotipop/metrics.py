"""Binary classification metrics over a whole split, computed on the host."""

import numpy as np


def roc_curve(labels, scores):
  """False- and true-positive rates at every distinct score threshold."""
  labels = np.asarray(labels, bool)
  order = np.argsort(-np.asarray(scores), kind='stable')
  scores, labels = np.asarray(scores)[order], labels[order]
  last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
  tp = np.cumsum(labels)[last_of_tie]
  fp = (last_of_tie + 1) - tp
  tpr = np.r_[0.0, tp / max(labels.sum(), 1)]
  fpr = np.r_[0.0, fp / max((~labels).sum(), 1)]
  return fpr, tpr


def roc_auc(labels, scores):
  """Area under the ROC curve; NaN when only one class is present."""
  labels = np.asarray(labels, bool)
  if labels.all() or not labels.any():
    return float('nan')
  fpr, tpr = roc_curve(labels, scores)
  return float(np.trapezoid(tpr, fpr))


def confusion(labels, predictions):
  """[[tn, fp], [fn, tp]]."""
  labels, predictions = np.asarray(labels, bool), np.asarray(predictions, bool)
  return np.array([[np.sum(~labels & ~predictions), np.sum(~labels & predictions)],
                   [np.sum(labels & ~predictions), np.sum(labels & predictions)]])


def binary_metrics(labels, probabilities, threshold=0.5):
  """Accuracy, precision, recall, F1 (of the popular class) and ROC-AUC."""
  labels = np.asarray(labels, bool)
  (tn, fp), (fn, tp) = confusion(labels, np.asarray(probabilities) >= threshold)
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return {'count': int(labels.size),
          'accuracy': float((tp + tn) / max(labels.size, 1)),
          'precision': float(precision), 'recall': float(recall),
          'f1': float(f1), 'roc_auc': roc_auc(labels, probabilities)}


def breakdown(groups, labels, probabilities, threshold=0.5):
  """binary_metrics per group value, e.g. per genre or per release decade."""
  groups = np.asarray(groups)
  return {str(g): binary_metrics(np.asarray(labels)[groups == g],
                                 np.asarray(probabilities)[groups == g],
                                 threshold)
          for g in sorted(set(groups.tolist()))}


def release_era(years):
  """Release decade labels, e.g. 1994 -> '1990s'."""
  return np.array([f'{(int(y) // 10) * 10}s' for y in years])
