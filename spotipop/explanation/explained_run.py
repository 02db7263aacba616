"""A run's model as a function of its inputs: integrated gradients per track.

The integrated-gradient baseline is an average track: the train split's
median of each (standardised) feature, and the mean log-spectrogram of up to
BASELINE_CLIPS train clips. A constant spectrogram (silence) would not do:
the conv tower standardises each clip, so every point of a path from a
constant spectrogram past its first step looks alike to the network, and the
attribution lands on that step. The genre is held at the track's own (it is
not a continuous input); explain measures its importance by permutation.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from spotipop.config import Config
from spotipop.data import datasets
from spotipop.data import features
from spotipop.data import pipeline
from spotipop.explanation import attribution
from spotipop.model import inference
from spotipop.run import checkpointing
from spotipop.run import workdir as workdir_lib

BASELINE_CLIPS = 256


# How often a wait on the accelerator lets Python see Ctrl-C and SIGTERM.
_POLL_SECONDS = 0.05


def _listening(outputs):
  """outputs once computed, waiting in Python: a wait inside XLA holds
  Ctrl-C and SIGTERM back until a path integral of many steps ends."""
  for leaf in jax.tree.leaves(outputs):
    while not leaf.is_ready():
      time.sleep(_POLL_SECONDS)
  return outputs


class Explainer:
  """A run's model as a function of its inputs, with attribution baselines."""

  def __init__(self, config: Config, dataset, model, params, steps=64,
               chunk=32):
    """A restored run (workdir.restore_run's config, dataset record, model
    and parameters); `steps` path steps; `chunk` tracks per compiled call."""
    self.config = config
    self.builder = datasets.load(dataset['data_dir'])
    self.metadata = self.builder.info.metadata
    # The plain layers: the fused kernels' gradients are written for the
    # parameters and the training step, not for attributions to the input.
    self.model = model.clone(kernels='xla')
    self.params = params
    self.steps, self.chunk = steps, chunk
    self.feature_names = list(features.model_columns(self.config.data))
    self.baseline = self._baseline()
    self._attribute = jax.jit(self._attribute_chunk)
    self._predict = inference.make_predict_step(self.model)

  @classmethod
  def from_run(cls, workdir, checkpoint=checkpointing.BEST, steps=64):
    config, dataset, model, state = workdir_lib.restore_run(workdir,
                                                            checkpoint)
    return cls(config, dataset, model, state.params, steps)

  def rows(self, split, indices, with_audio):
    """Rows of a split: model inputs, labels, ids and the raw features."""
    records = self.builder.as_data_source(split).__getitems__(list(indices))
    columns = pipeline.read_columns(records, self.metadata, with_audio)
    columns['raw_features'] = np.array([r['features'] for r in records])
    return columns

  def _spectrogram(self, audio):
    return self.model.apply({}, audio, method='log_spectrogram')

  def _baseline(self):
    """The average track the attributions are measured from."""
    train = datasets.read_tabular(self.builder, 'train')
    baseline = {'features': np.median(train['features'], axis=0)}
    if self.config.uses_audio:
      count = self.baseline_clips = min(BASELINE_CLIPS, len(train['label']))
      clips = self.rows('train', range(count), with_audio=True)['audio']
      spectrogram_of = jax.jit(self._spectrogram)
      baseline['spec'] = sum(
          np.asarray(spectrogram_of(clips[i:i + self.chunk])).sum(0)
          for i in range(0, count, self.chunk)) / count
    return {k: v.astype(np.float32) for k, v in baseline.items()}

  def _attribute_chunk(self, params, inputs, baseline):
    """Integrated gradients of a chunk: (attributions, logit, baseline logit)."""
    genre_id = inputs['genre_id']

    def logit(x):
      return self.model.apply({'params': params}, None, x['features'],
                              genre_id, spec=x.get('spec'))[0]
    x = {'features': inputs['features']}
    if 'audio' in inputs:
      x['spec'] = self._spectrogram(inputs['audio'])
    start = {k: jnp.broadcast_to(baseline[k], v.shape) for k, v in x.items()}
    return (attribution.integrated_gradients(logit, x, start, self.steps),
            logit(x), logit(start), x)

  def attribute(self, rows):
    """Integrated gradients of rows of model inputs, `chunk` at a time, the
    last chunk padded to the others' compiled shape: ({'features', 'spec'?}
    attributions, logit, baseline logit, {'features', 'spec'?} inputs),
    numpy."""
    count = len(rows['features'])
    keys = ('features', 'genre_id') + (('audio',) if 'audio' in rows else ())
    # Fewer rows than a chunk (one track to predict, a small split) are not
    # padded: the integral costs 65 passes a row.
    shape = min(count, self.chunk)
    parts = []
    for start in range(0, count, shape):
      chunk = {k: rows[k][start:start + shape] for k in keys}
      size = len(chunk['features'])
      padded = {k: np.concatenate([v, np.repeat(v[:1], shape - size, 0)])
                for k, v in chunk.items()}
      out = _listening(self._attribute(self.params, padded, self.baseline))
      parts.append(jax.tree.map(lambda a, n=size: np.asarray(a)[:n], out))
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)

  def top_contributions(self, rows, k):
    """Per row, its k largest contributions to the popular logit by size, as
    (input, value): the features' and, in audio runs, the clip's as a whole."""
    attributions = self.attribute(rows)[0]
    names = self.feature_names + (['audio'] if 'spec' in attributions else [])
    values = attributions['features']
    if 'spec' in attributions:
      values = np.column_stack([values, attributions['spec'].sum((1, 2))])
    return [[(names[j], float(row[j])) for j in np.argsort(-np.abs(row))[:k]]
            for row in values]

  def predict(self, table):
    """P(popular) of every row of a table of model inputs."""
    return np.concatenate([
        inference.predict_rows(
            self._predict, self.params,
            {k: v[start:start + self.chunk] for k, v in table.items()},
            self.chunk)[0]
        for start in range(0, len(table['features']), self.chunk)])
