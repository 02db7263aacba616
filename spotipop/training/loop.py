"""Data-parallel training with jax.pmap, early stopping on a validation metric.

The train state is passed to pmap unreplicated (in_axes=None, out_axes=None):
every device sees the same state, gradients are pmean'd over the 'batch' axis,
so the updated state is identical everywhere and comes back as one array.
"""

import contextlib
import functools
import math
import os
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import optax

from spotipop import errors
from spotipop.config import Config
from spotipop.data import datasets
from spotipop.data import pipeline
from spotipop.evaluation import metrics
from spotipop.model import inference
from spotipop.model import network
from spotipop.model import train_state
from spotipop.run import checkpointing
from spotipop.run import workdir as workdir_lib
from spotipop.storage import locks
from spotipop.training import preemption
from spotipop.training import summaries as summaries_lib

AXIS = inference.AXIS
# Callables of a step number, called once each step and any checkpoint due
# then are done. Empty in the tools; tests add one to stop a run at a chosen
# step (tests/scenarios/faults/signal_at_step.py).
AFTER_STEP = []


def prepare_dataset(config: Config):
  """Builds the dataset on host 0 while the others wait; returns the builder."""
  if jax.process_index() == 0:
    builder = datasets.build(config.data, config.uses_audio)
  multihost_utils.sync_global_devices('spotipop_dataset_built')
  return (builder if jax.process_index() == 0
          else datasets.build(config.data, config.uses_audio))


def loss_fn(params, apply_fn, batch, dropout_key, pos_weight, regression_weight):
  """Class-weighted BCE on the popular label + MSE on the popularity score."""
  logit, score = apply_fn({'params': params}, batch.get('audio'),
                          batch['features'], batch['genre_id'], train=True,
                          rngs={'dropout': dropout_key})
  label = batch['label'].astype(jnp.float32)
  weight = batch['mask'] * jnp.where(label == 1, pos_weight, 1.0)
  bce = optax.sigmoid_binary_cross_entropy(logit, label)
  classification = jnp.sum(weight * bce) / jnp.maximum(weight.sum(), 1e-9)
  mse = (score - batch['popularity'] / 100.0) ** 2
  regression = jnp.sum(batch['mask'] * mse) / jnp.maximum(
      batch['mask'].sum(), 1e-9)
  # logit >= 0 is P >= 0.5: popular, as the evaluation's threshold counts it.
  correct = batch['mask'] * ((logit >= 0) == (label == 1))
  return classification + regression_weight * regression, {
      'bce': classification, 'mse': regression, 'correct': correct.sum(),
      'count': batch['mask'].sum()}


def train_step(state, batch, key, pos_weight, regression_weight):
  """One SGD step on this device's shard; gradients averaged across devices."""
  key = jax.random.fold_in(jax.random.fold_in(key, state.step),
                           jax.lax.axis_index(AXIS))
  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, state.apply_fn, batch, key, pos_weight, regression_weight)
  grads = jax.lax.pmean(grads, AXIS)
  state = state.apply_gradients(grads=grads)
  totals = jax.lax.psum({'correct': aux['correct'], 'count': aux['count']}, AXIS)
  return state, {'loss': jax.lax.pmean(loss, AXIS),
                 'bce': jax.lax.pmean(aux['bce'], AXIS),
                 'mse': jax.lax.pmean(aux['mse'], AXIS),
                 'accuracy': totals['correct'] / totals['count']}


def make_train_step(pos_weight, regression_weight):
  step = functools.partial(train_step, pos_weight=pos_weight,
                           regression_weight=regression_weight)
  return jax.pmap(step, axis_name=AXIS, in_axes=(None, 0, None),
                  out_axes=(None, None))


def replicated(state):
  """state on every local device, as the train step returns it.

  Placed otherwise (a fresh or a restored state sits on one device), the
  step's first call would compile for that placement and its second again,
  for its own output's.
  """
  mesh = jax.sharding.Mesh(jax.local_devices(), (AXIS,))
  return jax.device_put(
      state, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def selection_value(config: Config, val_metrics):
  """The validation figure that ranks checkpoints; -1 (worst) where undefined."""
  value = val_metrics[config.train.selection_metric]
  return -1.0 if value is None or math.isnan(value) else value


# A train loss above this multiple of the run's first-step loss, or of the
# loss of a model that knows nothing, has exploded.
EXPLOSION_FACTOR = 100.0


def uninformed_loss(regression_weight):
  """The loss of P = 0.5 for every track (BCE ln 2, whatever the class
  weights) and a score of 50 (squared error at most 0.5 ** 2): the absolute
  scale a first loss inflated by bad inputs cannot move."""
  return math.log(2) + regression_weight * 0.25


def check_training(progress, config: Config, step, loss, params=None):
  """Stops a diverged run before anything of it is saved or evaluated.

  Raises errors.TrainingDivergedError when the loss (or, if given, a parameter) is
  not finite, or the loss exceeds EXPLOSION_FACTOR x the loss of the run's
  first step (kept in progress, so a resumed run keeps the same reference)
  or EXPLOSION_FACTOR x uninformed_loss, from the first step on.
  """
  loss = float(loss)
  if step == 1:
    progress['first_loss'] = loss
  reference = progress.setdefault('first_loss', loss)
  t = config.train
  hint = (f'try a lower --learning_rate (now {t.learning_rate:g}) or '
          f'--grad_clip_norm (now {t.grad_clip_norm:g})')
  uninformed = uninformed_loss(t.regression_weight)
  if not math.isfinite(loss):
    problem = f'the train loss is {loss}'
  elif loss > EXPLOSION_FACTOR * uninformed:
    problem = (f'the train loss {loss:.3g} is over {EXPLOSION_FACTOR:g}x the '
               f'{uninformed:.3g} of a model that knows nothing (P = 0.5, '
               'score 50)')
  elif loss > EXPLOSION_FACTOR * reference:
    problem = (f'the train loss {loss:.3g} is over {EXPLOSION_FACTOR:g}x the '
               f"first step's {reference:.3g}")
  elif params is not None and not all(  # numpy's: nothing to compile.
      np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params)):
    problem = 'the parameters are no longer finite'
  else:
    return
  raise errors.TrainingDivergedError(f'training diverged at step {step}: {problem}; '
                              f'{hint}. Nothing after it was saved or '
                              'evaluated.')


def record_epoch(progress, config: Config, epoch, step, losses, seconds,
                 val_metrics, steps_run=None):
  """Adds an epoch to the progress record, updates early stopping; True if best.

  losses are every step's loss of the epoch, those before a resume included;
  steps_run (default: all of them) are the steps this process timed. The
  first epoch is always the best so far, so every run has a best checkpoint.
  """
  value = selection_value(config, val_metrics)
  improved = (progress['best_val_metric'] is None
              or value > progress['best_val_metric'])
  if improved:
    progress.update(best_val_metric=value, best_step=step,
                    epochs_without_improvement=0)
  else:
    progress['epochs_without_improvement'] += 1
  progress['history'].append(metrics.json_safe({
      'epoch': epoch + 1, 'step': step,
      'train_loss': (float(np.mean(np.asarray(jax.device_get(losses),
                                              np.float64)))
                     if losses else None),
      'examples_per_second': (len(losses) if steps_run is None else steps_run)
                             * config.train.batch_size / seconds,
      **{f'val_{k}': v for k, v in val_metrics.items()}}))
  if progress['epochs_without_improvement'] >= config.train.early_stopping_patience:
    progress['stopped'] = 'early_stopping'
  elif epoch + 1 == config.train.num_epochs:
    progress['stopped'] = 'num_epochs'
  return improved


def check_before_building(config: Config, workdir):
  """The checks that need no data, so a bad setting fails in seconds."""
  devices = jax.device_count()
  if config.train.batch_size % devices:
    raise errors.SpotipopError(
        f'--batch_size={config.train.batch_size} is not divisible by the '
        f'{devices} devices ({jax.process_count()} host(s) x '
        f'{jax.local_device_count()})')
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise errors.SpotipopError(f'--workdir={workdir} is a file, not a folder')
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise errors.SpotipopError(
        f'--workdir={workdir} cannot be created: {e.strerror}') from None
  if not os.access(workdir, os.W_OK | os.X_OK):
    raise errors.SpotipopError(f'--workdir={workdir} is not writable')


def check_classes(config: Config, class_counts):
  """Refuses a catalogue whose train or validation split lacks a class.

  Training needs both classes to learn from, and checkpoint selection both to
  rank by; a test split with one class still gets a report, which says which
  metrics it cannot compute.
  """
  threshold = config.data.popularity_threshold
  for split in ('train', 'validation'):
    negatives, positives = class_counts[split]
    if negatives and positives:
      continue
    lacking = (f'no unpopular track (popularity < {threshold:g})' if positives
               else f'no popular track (popularity >= {threshold:g})')
    raise errors.DataError(
        f'the {split} split has {lacking}: {negatives} unpopular, {positives} '
        f'popular at --popularity_threshold={threshold:g}. Choose a threshold '
        "inside the catalogue's popularity range, or add tracks of the "
        'other class.')


def _interrupted(stop, step):
  return errors.Interrupted(
      f'interrupted by {stop.signal} at step {step}, which is saved; run the '
      'same command to resume')


def train_and_evaluate(config: Config, workdir):
  """Trains until num_epochs or early stopping; resumes from workdir if possible.

  A second trainer of the same workdir is refused (host 0 holds its lock).
  Returns the run's progress record (best validation metric, history, ...).
  """
  with (locks.held(os.path.join(workdir, '.spotipop-run.lock'),
                   f'--workdir={workdir}', wait=False)
        if jax.process_index() == 0 else contextlib.nullcontext()):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config: Config, workdir):
  builder = prepare_dataset(config)
  check_classes(config, builder.info.metadata['class_counts'])
  workdir_lib.write_run_files(workdir, config, builder)
  train_batches = inference.split_batches(builder, config, 'train', train=True)
  val_batches = inference.split_batches(builder, config, 'validation',
                                        train=False)
  steps_per_epoch = len(train_batches)
  model = network.create(config, len(builder.info.metadata['genre_vocab']))
  key = jax.random.key(config.train.seed)
  state = train_state.create(config, model, jax.random.fold_in(key, 0),
                             steps_per_epoch)
  logging.info('Model: %s towers, %d parameters; %d devices (%d local), '
               '%d steps per epoch', config.model.towers,
               sum(x.size for x in jax.tree.leaves(state.params)),
               jax.device_count(), jax.local_device_count(), steps_per_epoch)

  # Checkpoints and event files are closed on every way out, a divergence
  # included: Orbax's threads must finish before the interpreter does.
  with contextlib.ExitStack() as closing:
    ckpts = closing.enter_context(contextlib.closing(checkpointing.Checkpoints(
        workdir, config.train.keep_checkpoints)))
    stop = closing.enter_context(preemption.Watcher())
    restored = ckpts.restore(checkpointing.LATEST, state)
    if restored:
      state, progress = restored
      logging.info('Resumed from step %d of %s', int(state.step), workdir)
    else:
      progress = {'best_val_metric': None, 'best_step': None,
                  'epochs_without_improvement': 0, 'stopped': None,
                  'history': []}
    if progress['stopped']:
      logging.info('Run in %s already finished (%s)', workdir,
                   progress['stopped'])
      return progress

    negatives, positives = builder.info.metadata['class_counts']['train']
    pos_weight = (negatives / max(positives, 1)
                  if config.train.class_weighting else 1.0)
    p_train = make_train_step(pos_weight, config.train.regression_weight)
    state = replicated(state)
    p_predict = inference.make_predict_step(model)
    dropout_key = jax.random.fold_in(key, 1)
    step = int(state.step)
    summaries = closing.enter_context(contextlib.closing(
        summaries_lib.Summaries(workdir, step)))
    # Compiled once: evaluated eagerly, each of its scalar operations compiles.
    schedule = jax.jit(train_state.learning_rate_schedule(config,
                                                          steps_per_epoch))
    first_epoch, first_step = divmod(step, steps_per_epoch)

    def save_mid_epoch(step, state, losses):
      # With the epoch's losses so far, so that its train_loss survives a resume.
      check_training(progress, config, step, losses[-1], state.params)
      progress['epoch_losses'] = [float(x) for x in jax.device_get(losses)]
      summaries.flush()
      ckpts.save(checkpointing.LATEST, step, state, progress)
      del progress['epoch_losses']

    for epoch in range(first_epoch, config.train.num_epochs):
      # A resumed epoch starts with the losses of its steps before the kill, so
      # its train_loss is the uninterrupted run's.
      losses = (list(progress.pop('epoch_losses', []))
                if epoch == first_epoch else [])
      start, resumed_steps = time.time(), len(losses)
      batches = train_batches.epoch(
          epoch, first_step if epoch == first_epoch else 0)
      for batch in pipeline.prefetch(batches):
        state, step_metrics = p_train(state, inference.device_batch(batch),
                                     dropout_key)
        step += 1
        losses.append(step_metrics['loss'])
        if step == 1 or step % config.train.log_every_steps == 0:
          loss = float(step_metrics['loss'])  # One device-to-host copy.
          check_training(progress, config, step, loss)
          logging.info('step %d (epoch %d): loss %.4f, accuracy %.3f', step,
                       epoch + 1, loss, float(step_metrics['accuracy']))
          summaries.step(step, loss, float(schedule(step - 1)))
        mid_epoch = step % steps_per_epoch != 0
        every = config.train.checkpoint_every_steps
        periodic = every and step % every == 0
        if mid_epoch and periodic:
          save_mid_epoch(step, state, losses)
        for hook in AFTER_STEP:
          hook(step)
        # At an epoch's last step the epoch ends first: validation and its
        # saves, then the check below the loop.
        if stop.requested(step) and mid_epoch:
          if not periodic:
            save_mid_epoch(step, state, losses)
          raise _interrupted(stop, step)

      check_training(progress, config, step, losses[-1], state.params)
      val = inference.predict_split(p_predict, state.params, val_batches)
      val_metrics = metrics.classification_metrics(val['label'],
                                                   val['probability'])
      improved = record_epoch(progress, config, epoch, step, losses,
                              time.time() - start, val_metrics,
                              steps_run=len(losses) - resumed_steps)
      logging.info('epoch %d/%d: train loss %.4f, val %s %.3f (best %.3f), '
                   'val PR-AUC %.3f, %.1f examples/s', epoch + 1,
                   config.train.num_epochs,
                   progress['history'][-1]['train_loss'] or float('nan'),
                   config.train.selection_metric,
                   val_metrics[config.train.selection_metric],
                   progress['best_val_metric'],
                   val_metrics['average_precision'],
                   progress['history'][-1]['examples_per_second'])
      summaries.epoch(progress['history'][-1])
      if improved:
        ckpts.save(checkpointing.BEST, step, state, progress,
                   metrics={checkpointing.SELECTION: progress['best_val_metric']})
      ckpts.save(checkpointing.LATEST, step, state, progress)
      workdir_lib.write_history(workdir, progress['history'])
      if progress['stopped']:
        break
      if stop.signal:  # Asked at the epoch's end: its step is saved now.
        raise _interrupted(stop, step)

  logging.info('Training stopped (%s); best val %s %s at step %s',
               progress['stopped'], config.train.selection_metric,
               progress['best_val_metric'], progress['best_step'])
  return progress
