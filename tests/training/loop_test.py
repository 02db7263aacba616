"""pmap training on 8 CPU devices: correctness of the data-parallel step and loop."""

import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_config
from conftest import tensorboard_scalars
from spotipop import config as config_lib
from spotipop import errors
from spotipop.data import datasets
from spotipop.evaluation import metrics
from spotipop.model import inference
from spotipop.model import network
from spotipop.model import train_state
from spotipop.training import loop


@pytest.fixture(scope='module')
def built(catalogue, tmp_path_factory):
  """The session catalogue's dataset and one training batch of it."""
  config = small_config(catalogue[0], tmp_path_factory.mktemp('tfds'))
  builder = datasets.build(config.data)
  batches = inference.split_batches(builder, config, 'train', train=True)
  batch = next(batches.epoch(0))
  return builder, {k: batch[k] for k in inference.DEVICE_KEYS}


@pytest.fixture(scope='module')
def setup(catalogue, built):
  config = small_config(catalogue[0], 'unused', dropout=0.0)
  return config, built[1]


def _state(config, steps_per_epoch=2):
  return train_state.create(config, network.create(config, num_genres=6),
                            jax.random.key(0), steps_per_epoch)


def _assert_trees_close(actual, expected, rtol=1e-4, atol=1e-6):
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol,
                                                       atol=atol),
               actual, expected)


@functools.partial(jax.jit, static_argnames=('pos_weight', 'regression_weight'))
def _reference_step(state, batch, key, pos_weight, regression_weight,
                    same_key_everywhere=False):
  """The data-parallel step written out without pmap: each device's gradient
  of its own shard's loss, with that device's dropout key, averaged over the
  devices, then one optimiser update. Its metrics: the devices' mean loss,
  BCE and MSE, and the accuracy over every example of the batch."""
  devices = batch['features'].shape[0]
  step_key = jax.random.fold_in(key, state.step)
  # Traced, not static: both choices share one compilation.
  device_keys = jax.vmap(lambda d: jax.random.fold_in(step_key, d))(
      jnp.where(same_key_everywhere, 0, jnp.arange(devices)))
  (loss, aux), grads = jax.vmap(lambda shard, device_key: jax.value_and_grad(
      loop.loss_fn, has_aux=True)(state.params, state.apply_fn, shard,
                                   device_key, pos_weight,
                                   regression_weight))(batch, device_keys)
  step_metrics = {'loss': loss.mean(), 'bce': aux['bce'].mean(),
                  'mse': aux['mse'].mean(),
                  'accuracy': aux['correct'].sum() / aux['count'].sum()}
  return state.apply_gradients(grads=jax.tree.map(lambda g: g.mean(0),
                                                  grads)), step_metrics


STEPS = 3


# Without dropout in the slow tier: the quick tier's case with dropout runs
# the same step and reference.
@pytest.mark.parametrize('dropout', [pytest.param(0.0, marks=pytest.mark.slow),
                                     0.3])
def test_eight_device_steps_equal_the_written_out_data_parallel_step(
    catalogue, built, dropout):
  """Several steps at the peak learning rate (no warm-up), dropout off and
  on: the parameters move, and equal the reference's at every step."""
  config = small_config(catalogue[0], 'unused', dropout=dropout,
                        warmup_epochs=0.0)
  batch = built[1]
  assert jax.local_device_count() == 8
  key = jax.random.key(1)
  p_train = loop.make_train_step(2.0, 0.5)
  # The mask choice always passed: left to its default, it would be another
  # signature and another compilation.
  reference_step = functools.partial(_reference_step, pos_weight=2.0,
                                     regression_weight=0.5,
                                     same_key_everywhere=False)
  reference = initial = _state(config)
  ours = loop.replicated(initial)  # Placed as the loop places it.
  for _ in range(STEPS):
    ours, our_metrics = p_train(ours, batch, key)
    reference, reference_metrics = reference_step(reference, batch, key)
    _assert_trees_close(our_metrics, reference_metrics)
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), ours.params,
                       initial.params)
  assert min(jax.tree.leaves(moved)) > 1e-4  # Every tensor was trained.
  _assert_trees_close(ours.params, reference.params)
  if dropout:
    # The devices draw different masks: one mask everywhere is another run.
    same_masks = initial
    for _ in range(STEPS):
      same_masks, _ = reference_step(same_masks, batch, key,
                                     same_key_everywhere=True)
    differences = jax.tree.map(lambda a, b: float(np.abs(a - b).max()),
                               ours.params, same_masks.params)
    assert max(jax.tree.leaves(differences)) > 1e-3


@pytest.mark.slow  # Compiles a one-device step beside the eight-device one.
def test_without_dropout_eight_devices_equal_one_device_on_the_whole_batch(
    built):
  """Equal shards, every example unmasked, no class weight: the mean of the
  shards' mean losses is the whole batch's, so one device on the whole batch
  takes the same steps."""
  batch = built[1]
  config = small_config('unused.csv', 'unused', dropout=0.0,
                        warmup_epochs=0.0)
  key = jax.random.key(1)
  whole = {k: v.reshape(1, -1, *v.shape[2:]) for k, v in batch.items()}
  one_device = jax.pmap(
      lambda s, b, k: loop.train_step(s, b, k, 1.0, 0.5), axis_name=loop.AXIS,
      in_axes=(None, 0, None), out_axes=(None, None),
      devices=jax.local_devices()[:1])
  single = _state(config)
  sharded = loop.replicated(single)
  p_train = loop.make_train_step(1.0, 0.5)
  for _ in range(STEPS):
    sharded, _ = p_train(sharded, batch, key)
    single, _ = one_device(single, whole, key)
  _assert_trees_close(sharded.params, single.params, rtol=2e-4, atol=2e-6)
  assert not np.allclose(sharded.params['Dense_0']['kernel'],
                         _state(config).params['Dense_0']['kernel'])


# 0.05: the positives' weights sum to under 1, as in a shard of a catalogue
# where nine in ten tracks are popular.
@pytest.mark.parametrize('pos_weight', [3.0, 0.05])
def test_loss_is_class_weighted_bce_plus_weighted_score_mse(setup, pos_weight):
  """loop.loss_fn against the formula computed in numpy from the logits:
  positives weighted by pos_weight, masked rows left out; the count of
  correct labels at logit >= 0 (P >= 0.5, the evaluation's rule)."""
  config, batch = setup
  state = _state(config)
  shard = {k: np.asarray(v).reshape(-1, *v.shape[2:]) for k, v in
           batch.items()}
  shard['label'] = np.tile(np.array([1, 0, 1, 1], np.int32), 4)
  shard['mask'] = np.r_[np.ones(13), np.zeros(3)].astype(np.float32)
  if pos_weight < 1:  # Positives only, weights summing to 0.55.
    shard['label'][:] = 1
    shard['mask'] = np.r_[np.ones(11), np.zeros(5)].astype(np.float32)
  regression_weight = 0.25
  loss, aux = jax.jit(loop.loss_fn, static_argnums=(1,))(
      state.params, state.apply_fn, shard, jax.random.key(0), pos_weight,
      regression_weight)
  logit, score = (np.asarray(x, np.float64) for x in jax.jit(state.apply_fn)(
      {'params': state.params}, shard['audio'], shard['features'],
      shard['genre_id']))
  y, m = shard['label'], shard['mask']
  bce = np.where(y == 1, np.log1p(np.exp(-logit)), np.log1p(np.exp(logit)))
  w = m * np.where(y == 1, pos_weight, 1.0)
  mse = np.sum(m * (score - shard['popularity'] / 100) ** 2) / m.sum()
  expected = np.sum(w * bce) / w.sum() + regression_weight * mse
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(aux['bce']) == pytest.approx(np.sum(w * bce) / w.sum(),
                                            rel=1e-5)
  assert float(aux['count']) == m.sum()
  assert float(aux['correct']) == np.sum(m * ((logit >= 0) == (y == 1)))


def test_a_logit_of_exactly_zero_counts_as_popular(setup):
  """P = 0.5 is popular at the evaluation's default threshold (P >= 0.5);
  the training accuracy counts it the same way."""
  config, batch = setup
  state = _state(config)
  head = jax.tree.map(np.zeros_like, state.params['Dense_1'])  # The logit's.
  shard = {k: np.asarray(v).reshape(-1, *v.shape[2:]) for k, v in
           batch.items()}
  shard['mask'] = np.ones_like(shard['mask'])
  _, aux = jax.jit(loop.loss_fn, static_argnums=(1,))(
      {**state.params, 'Dense_1': head}, state.apply_fn, shard,
      jax.random.key(0), 1.0, 0.5)
  assert float(aux['correct']) == shard['label'].sum() > 0


@pytest.mark.slow  # 25 eight-device steps.
def test_state_stays_unreplicated_and_loss_falls(setup):
  config, batch = setup
  # Learning rate stays up. Placed on one device, as a fresh state is: the
  # step takes it too, compiling once more.
  state = _state(config, steps_per_epoch=25)
  shapes = jax.tree.map(np.shape, state.params)
  p_train = loop.make_train_step(1.0, 0.5)
  losses = []
  for _ in range(25):
    state, step_metrics = p_train(state, batch, jax.random.key(0))
    losses.append(float(step_metrics['loss']))
  assert jax.tree.map(np.shape, state.params) == shapes
  assert int(state.step) == 25
  assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.slow  # A whole run, in process.
def test_a_run_compiles_its_train_step_once(catalogue, built, tmp_path,
                                           monkeypatch):
  # Each compilation traces the step: a fresh state placed unlike the step's
  # own output compiled it twice, at step 1 and step 2.
  builder, _ = built
  traced = []
  step = loop.train_step

  def counted(*args, **kwargs):
    traced.append(1)
    return step(*args, **kwargs)

  monkeypatch.setattr(loop, 'train_step', counted)
  config = small_config(catalogue[0], builder.data_dir_root, num_epochs=2)
  progress = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert progress['history'][-1]['step'] == 4 and len(traced) == 1


@pytest.mark.slow  # Whole training runs.
@pytest.mark.parametrize('towers,present,absent', [
    ('audio_only', 'ConvTower_0', 'DenseTower_0'),
    ('tabular_only', 'DenseTower_0', 'ConvTower_0'),
])
def test_ablations_train_one_tower(catalogue, tmp_path, towers, present, absent):
  config = small_config(catalogue[0], tmp_path / 'tfds', towers=towers,
                        num_epochs=1)
  progress = loop.train_and_evaluate(config, str(tmp_path / 'run'))
  assert progress['stopped'] == 'num_epochs' and len(progress['history']) == 1
  state = _state(config)
  assert present in state.params and absent not in state.params


@pytest.mark.slow  # Whole training runs.
def test_early_stopping_on_the_validation_metric(catalogue, tmp_path):
  # Steps of 1e-30 leave float32 weights as they are, so validation ROC-AUC
  # cannot improve after epoch 1.
  config = small_config(catalogue[0], tmp_path / 'tfds', learning_rate=1e-30,
                        num_epochs=6, early_stopping_patience=2)
  workdir = str(tmp_path / 'run')
  progress = loop.train_and_evaluate(config, workdir)
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
  again = loop.train_and_evaluate(config, workdir)
  assert len(again['history']) == 3


# Scripted validation figures per epoch: the selection metric's sequence
# improves at epochs 1 and 2, then not for 2 epochs (a tie is no
# improvement); the other metrics' would pick other epochs.
SELECTED = [0.5, 0.8, 0.7, 0.8, 0.6, 0.9]
OTHERS = [0.9, 0.1, 0.95, 0.2, 0.3, 0.4]


def _scripted(metric, epoch):
  figures = {m: OTHERS[epoch] for m in config_lib.SELECTION_METRICS}
  return {**figures, metric: SELECTED[epoch]}


@pytest.mark.parametrize('metric', config_lib.SELECTION_METRICS)
def test_record_epoch_tracks_the_best_epoch_and_patience(metric):
  config = small_config('', '/unused', selection_metric=metric,
                        early_stopping_patience=2, num_epochs=6)
  progress = {'best_val_metric': None, 'best_step': None,
              'epochs_without_improvement': 0, 'stopped': None, 'history': []}
  improved = []
  for epoch in range(6):
    improved.append(loop.record_epoch(progress, config, epoch, 10 * (epoch + 1),
                                       [1.0], 1.0, _scripted(metric, epoch)))
    if progress['stopped']:
      break
  assert improved == [True, True, False, False]
  assert progress['stopped'] == 'early_stopping'
  assert progress['best_step'] == 20 and progress['best_val_metric'] == 0.8


def test_record_epoch_writes_the_epoch_record_and_resets_patience():
  config = small_config('', '/unused', early_stopping_patience=2, num_epochs=3,
                        batch_size=16)
  progress = {'best_val_metric': None, 'best_step': None,
              'epochs_without_improvement': 0, 'stopped': None, 'history': []}
  figures = [{'roc_auc': 0.6, 'mcc': 0.1}, {'roc_auc': 0.5, 'mcc': 0.2},
             {'roc_auc': 0.7, 'mcc': float('nan')}]
  seen = []
  for epoch, val in enumerate(figures):
    loop.record_epoch(progress, config, epoch, 4 * (epoch + 1),
                       [1.0, 2.0, 4.0, 5.0], 2.0, val, steps_run=2)
    seen.append((progress['epochs_without_improvement'], progress['stopped']))
  # An improvement resets the count; the last epoch stops the run.
  assert seen == [(0, None), (1, None), (0, 'num_epochs')]
  assert progress['stopped'] == 'num_epochs'
  assert progress['history'][1] == {
      'epoch': 2, 'step': 8, 'train_loss': 3.0, 'examples_per_second': 16.0,
      'val_roc_auc': 0.5, 'val_mcc': 0.2}
  assert progress['history'][2]['val_mcc'] is None  # NaN as JSON null.
  # Without steps_run, every loss counts as a step this process ran.
  loop.record_epoch(progress, config, 3, 16, [1.0] * 4, 2.0, figures[0])
  assert progress['history'][3]['examples_per_second'] == 32.0


@pytest.mark.parametrize('value,expected', [
    (None, -1.0), (float('nan'), -1.0), (0.25, 0.25), (-0.5, -0.5)])
def test_an_undefined_selection_figure_ranks_below_every_defined_one(
    value, expected):
  config = small_config('', '/unused', selection_metric='mcc')
  assert loop.selection_value(config, {'mcc': value}) == expected


@pytest.mark.slow  # Whole training runs.
@pytest.mark.parametrize('metric', config_lib.SELECTION_METRICS)
def test_best_checkpoint_and_early_stop_follow_the_selection_metric(
    catalogue, tmp_path, monkeypatch, metric):
  """A run whose validation figures are scripted: it stops after epoch 4 and
  keeps epoch 2's step as its best checkpoint."""
  epochs = iter(range(6))

  def scripted_metrics(labels, probabilities, threshold=0.5):
    real = classification_metrics(labels, probabilities, threshold)
    return {**real, **_scripted(metric, next(epochs))}
  classification_metrics = metrics.classification_metrics
  monkeypatch.setattr(metrics, 'classification_metrics', scripted_metrics)
  config = small_config(catalogue[0], tmp_path / 'tfds', towers='tabular_only',
                        selection_metric=metric, early_stopping_patience=2,
                        num_epochs=6)
  workdir = tmp_path / 'run'
  progress = loop.train_and_evaluate(config, str(workdir))
  steps_per_epoch = progress['history'][0]['step']
  assert progress['stopped'] == 'early_stopping'
  assert len(progress['history']) == 4
  assert progress['best_step'] == 2 * steps_per_epoch
  assert os.listdir(workdir / 'checkpoints' / 'best') == [
      str(2 * steps_per_epoch)]
  assert [h[f'val_{metric}'] for h in progress['history']] == SELECTED[:4]


@pytest.mark.slow  # Whole training runs.
def test_workdir_refuses_to_resume_under_other_settings(catalogue, tmp_path):
  config = small_config(catalogue[0], tmp_path / 'tfds', num_epochs=1)
  workdir = str(tmp_path / 'run')
  loop.train_and_evaluate(config, workdir)
  changed = dataclasses.replace(
      config, train=dataclasses.replace(config.train, learning_rate=0.1))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'--learning_rate: 0.003 != 0.1'):
    loop.train_and_evaluate(changed, workdir)


@pytest.mark.parametrize('counts,message', [
    ({'train': [0, 30], 'validation': [3, 4]},
     r'^the train split has no unpopular track \(popularity < 50\): 0 '
     r'unpopular, 30 popular at --popularity_threshold=50\.'),
    ({'train': [12, 18], 'validation': [7, 0]},
     r'^the validation split has no popular track \(popularity >= 50\): 7 '
     r'unpopular, 0 popular'),
])
def test_a_split_without_both_classes_is_refused_before_training(counts,
                                                                 message):
  config = config_lib.Config()
  with pytest.raises(errors.DataError, match=message):
    loop.check_classes(config, {**counts, 'test': [0, 5]})
  # A test split of one class is the report's to flag, not a reason to stop.
  loop.check_classes(config, {'train': [1, 1], 'validation': [1, 1],
                               'test': [0, 5]})


def test_check_training_names_each_way_a_run_diverges():
  config = small_config('', '/unused', learning_rate=0.01, grad_clip_norm=1.0)
  progress = {}
  loop.check_training(progress, config, 1, 0.5)
  assert progress['first_loss'] == 0.5
  loop.check_training(progress, config, 2, 50.0)  # 100x: still allowed.
  loop.check_training(progress, config, 3, 1.0, {'w': jnp.ones(2)})
  hint = r'try a lower --learning_rate \(now 0\.01\) or --grad_clip_norm \(now 1\)'
  for step, loss, params, problem in (
      (4, float('nan'), None, r'the train loss is nan'),
      (5, float('inf'), None, r'the train loss is inf'),
      (6, 50.5, None, r"the train loss 50\.5 is over 100x the first step's "
       r'0\.5'),
      (7, 1.0, {'w': jnp.array([1.0, jnp.nan])},
       r'the parameters are no longer finite')):
    with pytest.raises(errors.TrainingDivergedError,
                       match=rf'^training diverged at step {step}: {problem}; '
                       rf'{hint}\. Nothing after it was saved or evaluated\.$'):
      loop.check_training(progress, config, step, loss, params)
  # A run whose first check comes after step 1 takes that loss as reference.
  late = {}
  loop.check_training(late, config, 5, 0.3)
  assert late['first_loss'] == 0.3
  # A resumed run keeps its first step's loss as the reference.
  resumed = {'first_loss': 0.2}
  loop.check_training(resumed, config, 9, 19.0)
  with pytest.raises(errors.TrainingDivergedError):
    loop.check_training(resumed, config, 10, 20.5)


def test_a_first_loss_inflated_by_bad_inputs_is_judged_in_absolute_terms():
  """6 million at step 1 sets no reference: 100x what knowing nothing costs
  (ln 2 + 0.5 x 0.25 = 0.818 at the default --regression_weight) is the
  ceiling from the first step on."""
  config = small_config('', '/unused', regression_weight=0.5)
  loop.check_training({}, config, 1, 81.7)
  with pytest.raises(errors.TrainingDivergedError,
                     match=r'at step 1: the train loss 6e\+06 is over 100x the '
                     r'0\.818 of a model that knows nothing'):
    loop.check_training({}, config, 1, 6e6)
  heavier = small_config('', '/unused', regression_weight=2.0)
  loop.check_training({}, heavier, 1, 100.0)  # Under 100 x 1.19.
