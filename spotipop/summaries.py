"""TensorBoard event files of a run, in W/tensorboard: curves where researchers look.

tensorboardX writes them without TensorFlow. metrics.jsonl stays the record
of each epoch; these are the same figures for `tensorboard --logdir W`. Only
host 0 writes.
"""

import os

import jax
import tensorboardX

from spotipop import files


class Summaries:
  """Scalars of a run. A resumed run purges what followed its checkpoint."""

  def __init__(self, workdir, resumed_step=0):
    self._writer = None
    self._folder = os.path.join(workdir, 'tensorboard')
    if jax.process_index() == 0:
      # Steps after the restored checkpoint may have been logged by the killed
      # run; they are logged again now, and purge_step hides the first copies.
      self._writer = tensorboardX.SummaryWriter(
          self._folder,
          purge_step=resumed_step + 1 if resumed_step else None,
          flush_secs=30)

  def step(self, step, loss, learning_rate):
    if self._writer:
      self._writer.add_scalar('train/loss', loss, step)
      self._writer.add_scalar('train/learning_rate', learning_rate, step)

  def epoch(self, record):
    """A metrics.jsonl record: train loss, examples/s, every val_* metric."""
    if not self._writer:
      return
    step = record['step']
    for name, value in record.items():
      if value is None or name in ('epoch', 'step'):
        continue
      tag = (f'validation/{name[4:]}' if name.startswith('val_')
             else 'train/epoch_loss' if name == 'train_loss'
             else f'train/{name}')
      self._writer.add_scalar(tag, value, step)
    self.flush()

  def flush(self):
    """Writes out what is logged; called at each checkpoint, so a resumed run
    finds every step up to the one it restores."""
    if self._writer:
      with files.naming(self._folder):
        self._writer.flush()

  def close(self):
    if self._writer:
      with files.naming(self._folder):
        self._writer.close()
