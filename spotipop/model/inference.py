"""The model over many examples: a pmapped predict step, whole splits, rows.

Training (validation each epoch), evaluation, prediction and explanation all
score examples through here, so every one of them computes the same function
the same way.
"""

import jax
import numpy as np

from spotipop.config import Config
from spotipop.data import pipeline

AXIS = 'batch'
DEVICE_KEYS = ('audio', 'features', 'genre_id', 'label', 'popularity', 'mask')
MODEL_INPUTS = ('audio', 'features', 'genre_id')


def device_batch(batch):
  """The arrays of a host batch that go to the devices ('audio' if stored)."""
  return {k: batch[k] for k in DEVICE_KEYS if k in batch}


def make_predict_step(model):
  """pmapped (params, batch) -> popularity probability and score (0-100)."""
  def predict_step(params, batch):
    logit, score = model.apply({'params': params}, batch.get('audio'),
                               batch['features'], batch['genre_id'])
    return jax.nn.sigmoid(logit), score * 100.0
  return jax.pmap(predict_step, axis_name=AXIS, in_axes=(None, 0))


def split_batches(builder, config: Config, split, train):
  """Batches of a split for this host; evaluation reads the whole split."""
  return pipeline.Batches(
      builder.as_data_source()[split], builder.info.metadata,
      config.train.batch_size, jax.local_device_count(), train=train,
      seed=config.train.seed,
      process_index=jax.process_index() if train else 0,
      process_count=jax.process_count() if train else 1)


def predict_split(p_predict, params, batches):
  """Runs the model over a whole split; returns per-example numpy arrays."""
  parts = {k: [] for k in ('probability', 'score', 'label', 'popularity',
                           *pipeline.META_KEYS)}
  for batch in pipeline.prefetch(batches.epoch()):
    probability, score = p_predict(params, device_batch(batch))
    keep = batch['mask'].reshape(-1) > 0
    parts['probability'].append(np.asarray(probability).reshape(-1)[keep])
    parts['score'].append(np.asarray(score).reshape(-1)[keep])
    parts['label'].append(batch['label'].reshape(-1)[keep])
    parts['popularity'].append(batch['popularity'].reshape(-1)[keep])
    for k in pipeline.META_KEYS:
      parts[k].append(np.asarray(batch['meta'][k])[keep])
  return {k: np.concatenate(v) for k, v in parts.items()}


def predict_rows(p_predict, params, inputs, batch_size):
  """(probability, score) of host rows {'features', 'genre_id'[, 'audio']}
  of at most batch_size rows, padded to batch_size (one compiled shape for
  every call) and split over the local devices."""
  count = len(inputs['features'])
  devices = jax.local_device_count()
  padded = -(-batch_size // devices) * devices
  batch = {k: np.concatenate([v, np.repeat(v[:1], padded - count, 0)])
           .reshape(devices, -1, *np.shape(v)[1:])
           for k, v in inputs.items() if k in MODEL_INPUTS}
  probability, score = p_predict(params, batch)
  return (np.asarray(probability).reshape(-1)[:count],
          np.asarray(score).reshape(-1)[:count])
