"""pmap training on 8 CPU devices: correctness of the data-parallel step and loop."""

import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_config
from conftest import tensorboard_scalars
from spotipop import audio
from spotipop import config as config_lib
from spotipop import models
from spotipop import train
from spotipop.data import catalog


@pytest.fixture(scope='module')
def setup(catalogue, tmp_path_factory):
  config = small_config(catalogue[0], tmp_path_factory.mktemp('tfds'),
                        dropout=0.0)
  builder = catalog.build(config.data)
  batches = train.split_batches(builder, config, 'train', train=True)
  batch = next(batches.epoch(0))
  return config, {k: batch[k] for k in train.DEVICE_KEYS}


def _state(config, steps_per_epoch=2):
  return train.create_train_state(config, models.create(config, num_genres=6),
                                  jax.random.key(0), steps_per_epoch)


def test_eight_device_step_equals_one_device_step_on_the_whole_batch(setup):
  config, batch = setup
  assert jax.local_device_count() == 8
  key = jax.random.key(1)
  sharded, _ = train.make_train_step(1.0, 0.5)(_state(config), batch, key)
  whole = {k: v.reshape(1, -1, *v.shape[2:]) for k, v in batch.items()}
  one_device = jax.pmap(
      lambda s, b, k: train.train_step(s, b, k, 1.0, 0.5), axis_name=train.AXIS,
      in_axes=(None, 0, None), out_axes=(None, None),
      devices=jax.local_devices()[:1])
  single, _ = one_device(_state(config), whole, key)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4,
                                                       atol=2e-6),
               sharded.params, single.params)


def test_state_stays_unreplicated_and_loss_falls(setup):
  config, batch = setup
  state = _state(config, steps_per_epoch=25)  # Learning rate stays up.
  shapes = jax.tree.map(np.shape, state.params)
  p_train = train.make_train_step(1.0, 0.5)
  losses = []
  for _ in range(25):
    state, step_metrics = p_train(state, batch, jax.random.key(0))
    losses.append(float(step_metrics['loss']))
  assert jax.tree.map(np.shape, state.params) == shapes
  assert int(state.step) == 25
  assert losses[-1] < 0.7 * losses[0], losses


def test_genre_embedding_can_be_left_out(setup):
  config, _ = setup
  without = dataclasses.replace(
      config, model=dataclasses.replace(config.model, genre_embedding=0))
  assert 'Embed_0' in _state(config).params['DenseTower_0']
  assert 'Embed_0' not in _state(without).params['DenseTower_0']


@pytest.mark.parametrize('towers,present,absent', [
    ('audio_only', 'ConvTower_0', 'DenseTower_0'),
    ('tabular_only', 'DenseTower_0', 'ConvTower_0'),
])
def test_ablations_train_one_tower(catalogue, tmp_path, towers, present, absent):
  config = small_config(catalogue[0], tmp_path / 'tfds', towers=towers,
                        num_epochs=1)
  progress = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert progress['stopped'] == 'num_epochs' and len(progress['history']) == 1
  state = _state(config)
  assert present in state.params and absent not in state.params


def test_early_stopping_on_the_validation_metric(catalogue, tmp_path):
  # Steps of 1e-30 leave float32 weights as they are, so validation ROC-AUC
  # cannot improve after epoch 1.
  config = small_config(catalogue[0], tmp_path / 'tfds', learning_rate=1e-30,
                        num_epochs=6, early_stopping_patience=2)
  workdir = str(tmp_path / 'run')
  progress = train.train_and_evaluate(config, workdir)
  assert progress['stopped'] == 'early_stopping'
  assert len(progress['history']) == 3
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    lines = [json.loads(line) for line in f]
  assert [line['epoch'] for line in lines] == [1, 2, 3]
  assert {'val_f1', 'val_roc_auc', 'train_loss'} <= set(lines[0])
  # TensorBoard holds the same curves: every logged step, every epoch.
  scalars = tensorboard_scalars(workdir)
  steps = [line['step'] for line in lines]
  assert sorted(scalars['train/loss']) == list(range(1, steps[-1] + 1))
  assert sorted(scalars['train/learning_rate']) == list(range(1, steps[-1] + 1))
  for tag, key in (('validation/roc_auc', 'val_roc_auc'),
                   ('train/epoch_loss', 'train_loss'),
                   ('train/examples_per_second', 'examples_per_second')):
    assert scalars[tag] == pytest.approx(
        {line['step']: line[key] for line in lines}), tag
  # A finished run is not trained again.
  again = train.train_and_evaluate(config, workdir)
  assert len(again['history']) == 3


def test_workdir_refuses_to_resume_under_other_settings(catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path / 'tfds', num_epochs=1)
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(config, workdir)
  changed = dataclasses.replace(
      config, train=dataclasses.replace(config.train, learning_rate=0.1))
  with pytest.raises(config_lib.ConfigMismatchError,
                     match=r'--learning_rate: 0.003 != 0.1'):
    train.train_and_evaluate(changed, workdir)


def test_a_config_written_before_a_field_existed_loads_with_its_default():
  config = config_lib.Config(train=config_lib.TrainConfig(learning_rate=0.5))
  raw = json.loads(config.to_json())
  del raw['data']['max_skip_fraction']
  del raw['eval']  # A whole section added later.
  loaded = config_lib.Config.from_json(json.dumps(raw))
  assert loaded == config
  assert loaded.train.learning_rate == 0.5


def test_model_reads_int16_pcm_as_the_float_clip(setup):
  config, batch = setup
  model = models.create(config, num_genres=6)
  params = _state(config).params
  pcm = np.asarray(batch['audio'][0])
  assert pcm.dtype == np.int16
  args = (batch['features'][0], batch['genre_id'][0])
  from_pcm = model.apply({'params': params}, pcm, *args)
  from_float = model.apply({'params': params},
                           pcm.astype(np.float32) / audio.PCM_SCALE, *args)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               from_pcm, from_float)


def test_bfloat16_conv_tower_agrees_with_float32(setup):
  config, batch = setup
  params = _state(config).params  # float32 either way.
  bf16 = dataclasses.replace(
      config, model=dataclasses.replace(config.model, dtype='bfloat16'))
  args = (batch['audio'][0], batch['features'][0], batch['genre_id'][0])
  logit32, score32 = models.create(config, 6).apply({'params': params}, *args)
  logit16, score16 = models.create(bf16, 6).apply({'params': params}, *args)
  assert logit16.dtype == score16.dtype == np.float32
  # bfloat16 keeps 8 bits of mantissa (relative error 2^-9 per rounding); on
  # this batch the logits differ by 0.006 at most and the scores by 0.0008.
  np.testing.assert_allclose(logit16, logit32, atol=0.02)
  np.testing.assert_allclose(score16, score32, atol=0.01)
  assert not np.array_equal(logit16, logit32)  # The tower really ran in bf16.


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('loop_min_bytes', [0, None])
def test_cpu_conv_matches_xla_values_and_gradients(monkeypatch,
                                                   loop_min_bytes, channels):
  """The CPU conv (shifted multiply-adds for one input channel; kernel
  gradient as chunked matmuls, or XLA's own for small layers) is XLA's
  convolution, gradients included. 2 x 40 x 61 positions take two chunks of
  the loop, the second overlapping the first."""
  if loop_min_bytes is not None:  # Every layer takes the loop.
    monkeypatch.setattr(models, '_KERNEL_GRAD_LOOP_MIN_BYTES', loop_min_bytes)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 40, 61, channels)), jnp.float32)
  # Small weights keep tanh off its flat tails, where rounding-level
  # differences in the convolution could turn a window's maximum into a tie.
  kernel = jnp.asarray(0.2 * rng.standard_normal((3, 3, channels, 5)),
                       jnp.float32)
  assert 2 * 40 * 61 > models._KERNEL_GRAD_CHUNK

  def value_and_grads(conv):
    def f(x, kernel):
      return jnp.sum(nn.max_pool(jnp.tanh(conv(x, kernel)), (2, 2),
                                 strides=(2, 2)) ** 2)
    return jax.value_and_grad(f, argnums=(0, 1))(x, kernel)

  ours = value_and_grads(models._conv_3x3)
  xla = value_and_grads(lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-5), ours, xla)


def test_audio_path_in_chains_equals_one_chain(setup, monkeypatch):
  """On CPU the audio path runs on chunks of the batch side by side; logits
  and gradients are those of one chain over the whole batch."""
  config, batch = setup
  params = _state(config).params
  args = [batch[k].reshape(-1, *batch[k].shape[2:])
          for k in ('audio', 'features', 'genre_id')]
  model = models.create(config, num_genres=6)

  @jax.jit
  def logits_and_grads(params):
    def loss(params):
      logit, score = model.apply({'params': params}, *args)
      return jnp.sum(logit ** 2) + jnp.sum(score), logit
    return jax.value_and_grad(loss, has_aux=True)(params)

  assert model._cpu_chains(args[0]) == 1  # Small clips: all in one chain.
  one_chain = logits_and_grads(params)
  # One clip a chain, at most 3 chains: 16 clips in chunks of 6, 5 and 5.
  monkeypatch.setattr(models, '_CPU_CHAIN_BYTES', 1)
  monkeypatch.setattr(models, '_CPU_MAX_CHAINS', 3)
  assert model._cpu_chains(args[0]) == 3
  logits_and_grads.clear_cache()
  chains = logits_and_grads(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               chains, one_chain)


@pytest.mark.parametrize('dtype,inputs', [('float32', 'tied'),
                                          ('bfloat16', 'normal')])
def test_norm_gelu_pool_matches_flax_composition(dtype, inputs):
  """NormGeluPool is nn.GroupNorm, nn.gelu and nn.max_pool, gradients
  included. Odd edges are dropped by the pool but still count in the
  statistics. Inputs of 0, 1 or 2 tie often inside a window; the gradient
  must reach the first of the tied maxima, as nn.max_pool's does."""
  rng = np.random.default_rng(2)
  shape = (2, 11, 7, 16)
  x = (rng.integers(0, 3, shape) if inputs == 'tied'
       else 3 + 2 * rng.standard_normal(shape))
  x = jnp.asarray(x, dtype)
  params = {'scale': jnp.asarray(rng.uniform(0.5, 2, 16), jnp.float32),
            'bias': jnp.asarray(rng.standard_normal(16), jnp.float32)}
  weights = jnp.asarray(rng.standard_normal((2, 5, 3, 16)), jnp.float32)

  def value_and_grads(block):
    def f(params, x):
      return jnp.sum(block(params, x).astype(jnp.float32) * weights)
    return jax.value_and_grad(f, argnums=(0, 1))(params, x)

  ours = value_and_grads(lambda params, x: models.NormGeluPool(
      num_groups=8).apply({'params': params}, x))
  flax_norm = nn.GroupNorm(num_groups=8, dtype=dtype)
  flax_blocks = value_and_grads(lambda params, x: nn.max_pool(
      nn.gelu(flax_norm.apply({'params': params}, x)), (2, 2),
      strides=(2, 2)))
  if inputs == 'tied':
    activations = nn.gelu(flax_norm.apply({'params': params}, x))
    windows = activations[:, :10, :6].reshape(2, 5, 2, 3, 2, 16)
    maxima = windows.max(axis=(2, 4), keepdims=True)
    assert int(((windows == maxima).sum(axis=(2, 4)) > 1).sum()) > 50
  tolerance = 1e-5 if dtype == 'float32' else 2e-2
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tolerance,
      atol=tolerance * 10), ours, flax_blocks)
