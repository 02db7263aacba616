"""The train state: the learning-rate schedule and the optimiser, checked
against their documented definitions written out here, not against optax."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_config
from spotipop.model import network
from spotipop.model import train_state

STEPS_PER_EPOCH = 10


def _config(**overrides):
  return small_config('unused.csv', 'unused', **overrides)


def _documented_rate(step, peak, warmup_steps, total_steps):
  """Linear warm-up from 0 to the peak, then cosine decay to 1% of it."""
  if step < warmup_steps:
    return peak * step / warmup_steps
  progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
  return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


@pytest.mark.parametrize('epochs, warmup_epochs',
                         [(3, 0.5), (4, 2.0), (1, 0.0)])
def test_the_rate_warms_up_linearly_then_decays_to_one_percent(epochs,
                                                               warmup_epochs):
  config = _config(num_epochs=epochs, warmup_epochs=warmup_epochs,
                   learning_rate=2e-3)
  schedule = train_state.learning_rate_schedule(config, STEPS_PER_EPOCH)
  total = epochs * STEPS_PER_EPOCH
  warmup = int(warmup_epochs * STEPS_PER_EPOCH)
  for step in range(total + 3):
    np.testing.assert_allclose(
        float(schedule(step)), _documented_rate(step, 2e-3, warmup, total),
        rtol=1e-5, atol=1e-12, err_msg=f'step {step}')
  assert float(schedule(warmup)) == pytest.approx(2e-3)
  assert float(schedule(total)) == pytest.approx(2e-5)


@pytest.mark.parametrize('steps, warmup', [(4, 3), (1, 0)])
def test_a_warm_up_as_long_as_training_leaves_the_decay_its_last_step(
    steps, warmup):
  # 4 steps with 20 of warm-up asked: the warm-up is cut to 3 steps, so the
  # peak is reached and the schedule still ends at 1% of it. One step: at
  # the peak, then 1%.
  config = _config(num_epochs=1, warmup_epochs=5.0, learning_rate=1e-2)
  schedule = train_state.learning_rate_schedule(config, steps_per_epoch=steps)
  for step in range(steps + 2):
    assert float(schedule(step)) == pytest.approx(
        _documented_rate(step, 1e-2, warmup, steps), rel=1e-6, abs=1e-12)


def _state(config, steps_per_epoch=STEPS_PER_EPOCH):
  model = network.create(config, num_genres=3)
  return train_state.create(config, model, jax.random.key(0), steps_per_epoch)


def _global_norm(tree):
  return math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2))
                       for g in jax.tree.leaves(tree)))


def test_the_optimiser_is_adamw_after_global_norm_clipping():
  """Two steps written out: each gradient's global norm is clipped to
  --grad_clip_norm (the first gradient is over it, the second under), Adam
  (b1 0.9, b2 0.999, eps 1e-8, bias-corrected) moves each parameter, and
  decoupled weight decay takes rate x decay x the parameter. Adam's first
  step alone is the sign of the gradient whatever its scale; the second
  shows the clip, since it weighs the clipped first gradient against the
  second."""
  peak, decay, clip = 1e-2, 0.1, 0.5
  config = _config(towers='tabular_only', learning_rate=peak,
                   warmup_epochs=0.0, weight_decay=decay, grad_clip_norm=clip)
  state = _state(config)
  rng = np.random.default_rng(0)
  first, second = (jax.tree.map(
      lambda p: jnp.asarray(rng.standard_normal(p.shape), p.dtype),
      state.params) for _ in range(2))
  # The first is 10x the clip norm, the second 0.8x: unclipped, the first
  # would outweigh the second in Adam's moments 12.5x as much.
  first = jax.tree.map(lambda g: g * (10 * clip / _global_norm(first)), first)
  second = jax.tree.map(lambda g: g * (0.8 * clip / _global_norm(second)),
                        second)
  assert _global_norm(first) > clip > _global_norm(second)
  fresh = state
  # One compiled call: optax's updates run eagerly an operation per array.
  state = jax.jit(lambda s, a, b: s.apply_gradients(grads=a).apply_gradients(
      grads=b))(state, first, second)

  total = config.train.num_epochs * STEPS_PER_EPOCH
  rates = [_documented_rate(step, peak, 0, total) for step in (0, 1)]
  gradients = [jax.tree.map(lambda g, s=min(1.0, clip / _global_norm(tree)):
                            np.asarray(g, np.float64) * s, tree)
               for tree in (first, second)]

  def expected(param, g1, g2):
    param = np.asarray(param, np.float64)
    m = v = 0.0
    for step, (g, rate) in enumerate(zip((g1, g2), rates), start=1):
      m = 0.9 * m + 0.1 * g
      v = 0.999 * v + 0.001 * g ** 2
      adam = (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
      param = param - rate * (adam + decay * param)
    return param
  expected_params = jax.tree.map(expected, fresh.params, *gradients)
  jax.tree.map(lambda new, want: np.testing.assert_allclose(
      new, want, rtol=1e-4, atol=1e-6), state.params, expected_params)


def test_the_abstract_state_has_the_shapes_of_a_real_one():
  config = _config()
  model = network.create(config, num_genres=3)
  real = train_state.create(config, model, jax.random.key(1), 4)
  like = train_state.abstract(config, model)
  assert (jax.tree.map(lambda a: (a.shape, a.dtype), like.params)
          == jax.tree.map(lambda a: (a.shape, a.dtype), real.params))
  # A fresh state's step is an int32 0, as a restored one's is.
  assert (real.step.shape, real.step.dtype, int(real.step)) == (
      (), jnp.int32, 0)
  assert (like.step.shape, like.step.dtype) == ((), jnp.int32)
