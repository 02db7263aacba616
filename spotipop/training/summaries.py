"""TensorBoard event files of a run, in W/tensorboard: curves where researchers look.

tensorboardX's protocol buffers and record writer write them without
TensorFlow. metrics.jsonl stays the record of each epoch; these are the same
figures for `tensorboard --logdir W`. Only host 0 writes.

Events are written when logged, not by tensorboardX's SummaryWriter, whose
background thread holds them in a queue its flush() does not empty: a run
killed or stopped by a full disk after a checkpoint lost the curves up to it.
"""

import itertools
import os
import time

import jax
from tensorboardX import event_file_writer
from tensorboardX import summary
from tensorboardX.proto import event_pb2

from spotipop.storage import atomic_files

_WRITERS = itertools.count()


class Summaries:
  """Scalars of a run. Each run purges what an earlier one logged after the
  checkpoint it starts from (all of it, when it starts from scratch)."""

  def __init__(self, workdir, resumed_step=0):
    self._events = None
    self._folder = os.path.join(workdir, 'tensorboard')
    if jax.process_index():
      return
    with atomic_files.naming(self._folder):
      os.makedirs(self._folder, exist_ok=True)
      # File names hold the second the writer starts; the process id and a
      # count keep two writers started in one second in two files. The count
      # is zero-padded: TensorBoard reads the files in name order, where
      # '10' would sort before '9'.
      self._events = event_file_writer.EventsWriter(
          os.path.join(self._folder, 'events'),
          f'.{os.getpid()}.{next(_WRITERS):06d}')
      # TensorBoard hides the earlier files' events at this step and later.
      self._write(event_pb2.Event(step=resumed_step + 1, session_log=(
          event_pb2.SessionLog(status=event_pb2.SessionLog.START))))

  def _write(self, event):
    event.wall_time = time.time()
    with atomic_files.naming(self._folder):
      self._events.write_event(event)

  def _scalar(self, tag, value, step):
    self._write(event_pb2.Event(step=step,
                                summary=summary.scalar(tag, value)))

  def step(self, step, loss, learning_rate):
    if self._events:
      self._scalar('train/loss', loss, step)
      self._scalar('train/learning_rate', learning_rate, step)

  def epoch(self, record):
    """A metrics.jsonl record: train loss, examples/s, every val_* metric."""
    if not self._events:
      return
    step = record['step']
    for name, value in record.items():
      if value is None or name in ('epoch', 'step'):
        continue
      tag = (f'validation/{name[4:]}' if name.startswith('val_')
             else 'train/epoch_loss' if name == 'train_loss'
             else f'train/{name}')
      self._scalar(tag, value, step)
    self.flush()

  def flush(self):
    """Writes out what is logged; called at each checkpoint, so a resumed run
    finds every step up to the one it restores."""
    if self._events:
      with atomic_files.naming(self._folder):
        self._events.flush()

  def close(self):
    if self._events:
      with atomic_files.naming(self._folder):
        self._events.close()
      self._events = None
