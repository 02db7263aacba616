"""Attributions: which inputs move a model's output, and by how much.

integrated_gradients: per example, the gradient averaged along the straight
path from a baseline input to the example, times the difference (Sundararajan
et al. 2017). The attributions sum to f(example) - f(baseline) up to the
error of the quadrature, which the caller measures (completeness).

permutation_importance: over a whole split, the drop in ROC-AUC when one input
is shuffled across the examples, repeated with fresh shuffles so its spread
shows.
"""

import jax
import jax.numpy as jnp
import numpy as np

from spotipop.evaluation import metrics


def trapezoid_weights(steps):
  """Weights of the points 0, 1/steps, ..., 1 of the trapezoid rule on [0, 1]."""
  if steps < 1:
    raise ValueError(f'integrated gradients need at least 1 path step, not '
                     f'{steps}')
  weights = np.full(steps + 1, 1.0 / steps)
  weights[[0, -1]] /= 2
  return weights


def integrated_gradients(fn, inputs, baselines, steps):
  """Attributions of fn's output to each input value, shaped like inputs.

  fn maps a dict of [batch, ...] arrays to [batch] outputs, each example's
  output depending on that example's inputs alone; baselines has the shapes
  of inputs. The path is integrated with the trapezoid rule over `steps`
  intervals, one gradient of the whole batch per point, inside one scan.
  """
  differences = jax.tree.map(jnp.subtract, inputs, baselines)
  grad = jax.grad(lambda x: fn(x).sum())  # Examples are independent.

  def accumulate(total, point):
    alpha, weight = point
    on_path = jax.tree.map(lambda b, d: b + alpha * d, baselines, differences)
    return jax.tree.map(lambda t, g: t + weight * g, total,
                        grad(on_path)), None

  points = (jnp.linspace(0.0, 1.0, steps + 1),
            jnp.asarray(trapezoid_weights(steps), jnp.float32))
  total, _ = jax.lax.scan(accumulate, jax.tree.map(jnp.zeros_like, inputs),
                          points)
  return jax.tree.map(jnp.multiply, differences, total)


def shuffled(table, key, column, order):
  """table with table[key] (or only its column `column`) in `order`."""
  values = np.array(table[key], copy=True)
  if column is None:
    values = values[order]
  else:
    values[:, column] = values[order, column]
  return {**table, key: values}


def permutation_importance(predict, table, labels, groups, repeats, seed):
  """(ROC-AUC, {group: [repeats] drops in ROC-AUC when the group is shuffled}).

  predict maps a table (a dict of arrays, one row per example) to P(popular);
  groups maps a name to the (key, column) it shuffles, column None for the
  whole of table[key] (the genre id, the audio). Every group sees the same
  `repeats` shuffles.
  """
  auc = metrics.roc_auc(labels, predict(table))
  orders = [np.random.default_rng([seed, r]).permutation(len(labels))
            for r in range(repeats)]
  return auc, {
      name: np.array([auc - metrics.roc_auc(
          labels, predict(shuffled(table, key, column, order)))
                      for order in orders])
      for name, (key, column) in groups.items()}

