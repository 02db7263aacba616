"""The train state: parameters, the optimiser and its learning-rate schedule.

Training creates it; evaluation and prediction create one of the same shape
to restore a checkpoint into.
"""

import flax.training.train_state
import jax
import jax.numpy as jnp
import optax

from spotipop.config import Config
from spotipop.data import catalog
from spotipop.data import features as features_lib

TrainState = flax.training.train_state.TrainState


def create(config: Config, model, key, steps_per_epoch):
  """A fresh state: initial parameters and AdamW after global-norm clipping.

  Built in one compiled call rather than an eager operation per optimiser
  array. Its step is an int32 array, the type of a restored state's step, so
  that a fresh and a resumed run share one compiled train step.
  """
  t = config.train
  tx = optax.chain(optax.clip_by_global_norm(t.grad_clip_norm),
                   optax.adamw(learning_rate_schedule(config, steps_per_epoch),
                               weight_decay=t.weight_decay))

  def init(key):
    audio = (jnp.zeros((1, catalog.num_samples(config.data)), jnp.float32)
             if config.uses_audio else None)
    features = jnp.zeros((1, len(features_lib.model_columns(config.data))),
                         jnp.float32)
    genre_id = jnp.zeros((1,), jnp.int32)
    params = model.init({'params': key}, audio, features, genre_id)['params']
    return TrainState.create(apply_fn=model.apply, params=params,
                             tx=tx).replace(step=jnp.zeros((), jnp.int32))
  return jax.jit(init)(key)


def abstract(config: Config, model):
  """The shapes and dtypes of a state, computed without building one: what
  a checkpoint is restored into."""
  return jax.eval_shape(lambda: create(config, model, jax.random.key(0),
                                       steps_per_epoch=1))


def learning_rate_schedule(config: Config, steps_per_epoch):
  """Linear warm-up to --learning_rate, then cosine decay to 1% of it."""
  t = config.train
  total_steps = max(t.num_epochs * steps_per_epoch, 1)
  warmup_steps = min(int(t.warmup_epochs * steps_per_epoch), total_steps - 1)
  return optax.warmup_cosine_decay_schedule(
      0.0, t.learning_rate, warmup_steps, total_steps,
      end_value=t.learning_rate * 0.01)
