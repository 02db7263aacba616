"""Integrated gradients and permutation importance against known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spotipop.evaluation import metrics
from spotipop.explanation import attribution


def test_trapezoid_weights_integrate_a_line_exactly():
  for steps in (1, 2, 7):
    weights = attribution.trapezoid_weights(steps)
    points = np.linspace(0, 1, steps + 1)
    assert weights.sum() == pytest.approx(1.0)
    assert weights @ (3 * points + 1) == pytest.approx(2.5)  # ∫ 3a + 1.
  with pytest.raises(ValueError, match='at least 1 path step'):
    attribution.trapezoid_weights(0)


def test_a_linear_model_gets_weight_times_difference():
  w = jnp.array([0.5, -2.0, 3.0])
  x = {'v': jnp.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])}
  b = {'v': jnp.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])}
  got = attribution.integrated_gradients(lambda t: t['v'] @ w, x, b, steps=1)
  np.testing.assert_allclose(got['v'], w * (x['v'] - b['v']), rtol=1e-6)


def test_a_quadratic_gets_the_exact_path_integral():
  """f = sum(x^2): the gradient is linear on the path, so the trapezoid rule
  is exact and each attribution is x^2 - b^2, not the gradient at x times
  the difference (2x(x - b))."""
  x = {'v': jnp.array([[1.0, -2.0, 3.0]])}
  b = {'v': jnp.array([[0.5, 1.0, 0.0]])}
  got = attribution.integrated_gradients(lambda t: (t['v'] ** 2).sum(-1), x, b,
                                         steps=3)
  np.testing.assert_allclose(got['v'], x['v'] ** 2 - b['v'] ** 2, rtol=1e-6)


def test_completeness_error_falls_with_path_steps_over_several_inputs():
  """Two inputs of a nonlinear function: the attributions of both sum to
  f(x) - f(b), closer with more steps; each example is attributed alone."""
  rng = np.random.default_rng(0)
  x = {'a': jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
       'b': jnp.asarray(rng.normal(size=(4, 2, 2)), jnp.float32)}
  base = jax.tree.map(jnp.zeros_like, x)

  def fn(t):
    return jnp.tanh(2 * t['a'].sum(-1) * t['b'].mean((1, 2)) + t['a'][:, 0])

  errors = []
  for steps in (4, 16, 64):
    got = attribution.integrated_gradients(fn, x, base, steps)
    total = got['a'].sum(-1) + got['b'].sum((1, 2))
    errors.append(float(jnp.abs(total - (fn(x) - fn(base))).max()))
  assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3, errors
  alone = attribution.integrated_gradients(
      fn, jax.tree.map(lambda v: v[2:3], x),
      jax.tree.map(lambda v: v[2:3], base), 64)
  np.testing.assert_allclose(alone['a'][0], got['a'][2], rtol=1e-5, atol=1e-7)


def test_shuffled_moves_one_column_or_the_whole_input():
  table = {'features': np.arange(6.0).reshape(3, 2), 'genre_id': np.arange(3)}
  order = np.array([2, 0, 1])
  one = attribution.shuffled(table, 'features', 1, order)
  np.testing.assert_array_equal(one['features'], [[0, 5], [2, 1], [4, 3]])
  np.testing.assert_array_equal(table['features'], [[0, 1], [2, 3], [4, 5]])
  whole = attribution.shuffled(table, 'genre_id', None, order)
  np.testing.assert_array_equal(whole['genre_id'], [2, 0, 1])
  assert whole['features'] is table['features']


def test_permutation_importance_finds_the_one_column_the_model_reads():
  rng = np.random.default_rng(1)
  features = rng.normal(size=(300, 3))
  labels = (features[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
  table = {'features': features, 'genre_id': rng.integers(0, 4, 300)}
  groups = {'a': ('features', 0), 'b': ('features', 1), 'c': ('features', 2),
            'genre': ('genre_id', None)}

  def predict(t):
    return 1 / (1 + np.exp(-3 * t['features'][:, 1]))
  auc, drops = attribution.permutation_importance(predict, table, labels,
                                                  groups, repeats=4, seed=3)
  assert auc == pytest.approx(metrics.roc_auc(labels, predict(table)))
  for name in ('a', 'c', 'genre'):
    np.testing.assert_array_equal(drops[name], np.zeros(4))
  assert drops['b'].shape == (4,) and drops['b'].min() > 0.3
  again = attribution.permutation_importance(predict, table, labels, groups,
                                             repeats=4, seed=3)[1]
  np.testing.assert_array_equal(again['b'], drops['b'])

