"""The network: its towers and ablations, input types, precision, kernel
choices, and checkpoints written by earlier versions."""

import dataclasses
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from conftest import small_config
from spotipop import config as config_lib
from spotipop.audio import decode
from spotipop.model import network
from spotipop.run import workdir as workdir_lib

NUM_GENRES = 6


def _config(**overrides):
  return small_config('unused.csv', 'unused', **overrides)


def _inputs(config, batch=8, seed=0):
  rng = np.random.default_rng(seed)
  samples = int(config.data.clip_seconds * config.data.sample_rate)
  return (rng.integers(-9000, 9000, (batch, samples), dtype=np.int16),
          rng.standard_normal(
              (batch, len(config.data.feature_columns))).astype(np.float32),
          rng.integers(0, NUM_GENRES + 1, batch).astype(np.int32))


def _init(config, seed=0):
  audio_clips, features, genre_id = _inputs(config, batch=1)
  return jax.jit(network.create(config, NUM_GENRES).init)(
      jax.random.key(seed), audio_clips if config.uses_audio else None,
      features, genre_id)['params']


def _structure(config):
  """The parameters' tree of shapes, traced without compiling an init."""
  audio_clips, features, genre_id = _inputs(config, batch=1)
  return jax.eval_shape(network.create(config, NUM_GENRES).init,
                        jax.random.key(0),
                        audio_clips if config.uses_audio else None, features,
                        genre_id)['params']


def _with(config, **model_fields):
  return dataclasses.replace(
      config, model=dataclasses.replace(config.model, **model_fields))


@pytest.mark.parametrize('towers,present,absent', [
    ('two_tower', ('ConvTower_0', 'DenseTower_0'), ()),
    ('audio_only', ('ConvTower_0',), ('DenseTower_0',)),
    ('tabular_only', ('DenseTower_0',), ('ConvTower_0',)),
])
def test_each_ablation_has_only_its_towers(towers, present, absent):
  params = _structure(_config(towers=towers))
  assert all(name in params for name in present)
  assert not any(name in params for name in absent)


def test_genre_embedding_can_be_left_out():
  assert 'Embed_0' in _structure(_config())['DenseTower_0']
  assert 'Embed_0' not in _structure(_config(genre_embedding=0))[
      'DenseTower_0']


def test_model_reads_int16_pcm_as_the_float_clip():
  config = _config()
  apply, params = jax.jit(network.create(config, NUM_GENRES).apply), _init(
      config)
  pcm, features, genre_id = _inputs(config)
  from_pcm = apply({'params': params}, pcm, features, genre_id)
  from_float = apply({'params': params},
                     pcm.astype(np.float32) / decode.PCM_SCALE, features,
                     genre_id)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               from_pcm, from_float)


@pytest.mark.parametrize('kernels', ['xla', 'fused'])
def test_bfloat16_conv_tower_agrees_with_float32(kernels):
  config = _config(kernels=kernels)
  params = _init(config)  # float32 either way.
  args = _inputs(config)
  logit32, score32 = jax.jit(network.create(config, NUM_GENRES).apply)(
      {'params': params}, *args)
  logit16, score16 = jax.jit(network.create(
      _with(config, dtype='bfloat16'), NUM_GENRES).apply)({'params': params},
                                                          *args)
  assert logit16.dtype == score16.dtype == np.float32
  # bfloat16 keeps 8 bits of mantissa (relative error 2^-9 per rounding).
  np.testing.assert_allclose(logit16, logit32, atol=0.02)
  np.testing.assert_allclose(score16, score32, atol=0.01)
  assert not np.array_equal(logit16, logit32)  # The tower really ran in bf16.


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_xla_and_fused_kernels_compute_the_same_network():
  """One parameter tree; the same logits, scores and gradients."""
  config = _config(kernels='xla')
  params = _init(config)
  assert (jax.tree.map(np.shape, params) ==
          jax.tree.map(np.shape, _init(_with(config, kernels='fused'))))
  args = _inputs(config)

  def value_and_grads(kernels):
    model = network.create(_with(config, kernels=kernels), NUM_GENRES)
    assert model.kernels == kernels

    def loss(params):
      logit, score = model.apply({'params': params}, *args)
      return jnp.sum(logit ** 2) + jnp.sum(score), (logit, score)
    return jax.jit(jax.value_and_grad(loss, has_aux=True))(params)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               value_and_grads('fused'), value_and_grads('xla'))


@pytest.mark.parametrize('kernels', ['xla', 'fused'])
def test_a_checkpoint_written_by_version_0_1_0_restores(tmp_path, kernels):
  """tests/fixtures/checkpoint_0.1.0: a run's best checkpoint and the logits and
  scores the code of that version gave for a fixed input."""
  run = tmp_path / 'run'
  shutil.copytree(os.path.join(REPO, 'tests', 'fixtures', 'checkpoint_0.1.0'), run)
  config, _, _, state = workdir_lib.restore_run(str(run), 'best')
  expected = np.load(run / 'expected.npz')
  assert int(state.step) == int(expected['step'])
  model = network.create(_with(config, kernels=kernels), NUM_GENRES)
  logit, score = jax.jit(model.apply)(
      {'params': state.params}, expected['audio'], expected['features'],
      expected['genre_id'])
  np.testing.assert_allclose(logit, expected['logit'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(score, expected['score'], rtol=1e-5, atol=1e-5)


def test_create_passes_every_model_setting_and_resolves_auto_kernels():
  config = _config(dropout=0.35, kernels='auto')
  net = network.create(config, NUM_GENRES)
  m = config.model
  assert (net.towers, net.n_fft, net.hop_length, net.n_mels, net.conv_channels,
          net.dense_features, net.fusion_features, net.dropout, net.dtype,
          net.genre_embedding, net.sample_rate, net.num_genres) == (
              m.towers, m.n_fft, m.hop_length, m.n_mels, m.conv_channels,
              m.dense_features, m.fusion_features, 0.35, m.dtype,
              m.genre_embedding, config.data.sample_rate, NUM_GENRES)
  assert jax.default_backend() == 'cpu' and net.kernels == 'fused'
  assert network.create(config, NUM_GENRES, backend='gpu').kernels == 'xla'


def test_int16_clips_give_the_spectrogram_of_the_floats_they_encode():
  """decode.to_pcm16 stores x * 32767, rounded."""
  config = _config()
  net = network.create(config, NUM_GENRES)
  pcm = _inputs(config, batch=2)[0]
  np.testing.assert_allclose(
      net.log_spectrogram(jnp.asarray(pcm)),
      net.log_spectrogram(jnp.asarray(pcm / 32767.0, jnp.float32)),
      rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('overrides,clip_bytes', [
    # frames x bins x first-layer channels x bytes a value, written out.
    ({}, 251 * 64 * 16 * 4),  # The defaults: 4 s at 16 kHz, 512/256, 64 mels.
    ({'n_mels': 0}, 251 * 257 * 16 * 4),  # Linear: n_fft / 2 + 1 bins.
    ({'dtype': 'bfloat16', 'conv_channels': (8, 16)}, 251 * 64 * 8 * 2)])
def test_a_clips_first_layer_bytes_set_the_fused_paths_chains(overrides,
                                                              clip_bytes):
  net = dataclasses.replace(
      network.create(config_lib.Config(), NUM_GENRES), **overrides)
  first_layer_bytes = net._first_layer_bytes(64_000)  # pylint: disable=protected-access
  assert first_layer_bytes == clip_bytes and isinstance(first_layer_bytes, int)
