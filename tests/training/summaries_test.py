"""TensorBoard scalars: on disk at each flush, and purged past a resume."""

import errno
import itertools
import os

import pytest

from conftest import tensorboard_scalars
from spotipop.training import summaries


def _record(step, auc):
  return {'epoch': step // 2, 'step': step, 'train_loss': 0.5,
          'examples_per_second': 1024.0, 'val_roc_auc': auc, 'val_mcc': None}


def test_what_is_flushed_is_in_the_file_before_the_writer_closes(tmp_path):
  # A run killed after a checkpoint keeps every curve up to it.
  writer = summaries.Summaries(str(tmp_path))
  writer.step(1, 0.75, 0.015625)
  writer.epoch(_record(2, 0.625))  # Flushes.
  assert tensorboard_scalars(str(tmp_path)) == {
      'train/loss': {1: 0.75}, 'train/learning_rate': {1: 0.015625},
      'train/epoch_loss': {2: 0.5}, 'train/examples_per_second': {2: 1024.0},
      'validation/roc_auc': {2: 0.625}}
  writer.close()


def test_writers_started_in_one_second_sort_in_the_order_they_started(
    tmp_path, monkeypatch):
  """The tenth writer of a process must not sort before the ninth."""
  monkeypatch.setattr(summaries, '_WRITERS', itertools.count(9))
  for auc in (0.5, 0.625):
    writer = summaries.Summaries(str(tmp_path))
    writer.epoch(_record(2, auc))
    writer.close()
  names = sorted(os.listdir(tmp_path / 'tensorboard'))
  assert [n.rsplit('.', 1)[1] for n in names] == ['000009', '000010']
  assert tensorboard_scalars(str(tmp_path))['validation/roc_auc'] == {
      2: 0.625}


def test_a_resumed_run_hides_what_followed_its_checkpoint(tmp_path):
  first = summaries.Summaries(str(tmp_path))
  for step, auc in ((2, 0.625), (4, 0.75)):
    first.step(step - 1, 0.75, 0.015625)
    first.epoch(_record(step, auc))
  first.close()
  resumed = summaries.Summaries(str(tmp_path), resumed_step=2)
  resumed.epoch(_record(4, 0.875))
  resumed.close()
  assert len(os.listdir(tmp_path / 'tensorboard')) == 2  # Same second too.
  shown = tensorboard_scalars(str(tmp_path))
  assert shown['validation/roc_auc'] == {2: 0.625, 4: 0.875}
  assert shown['train/loss'] == {1: 0.75}  # Step 3 followed the checkpoint.
  # A run that starts from scratch again hides all of it.
  again = summaries.Summaries(str(tmp_path))
  again.epoch(_record(2, 0.9375))
  again.close()
  shown = tensorboard_scalars(str(tmp_path))
  assert shown['validation/roc_auc'] == {2: 0.9375}
  assert shown['train/loss'] == {}  # Step 1 too.


@pytest.mark.parametrize('failing', ['__init__', 'write_event', 'flush',
                                     'close'])
def test_a_full_disk_is_named_by_the_runs_tensorboard_folder(
    tmp_path, monkeypatch, failing):
  """The writer's OSError names no file; the run's error names the folder."""
  def full(*args, **kwargs):
    del args, kwargs
    raise OSError(errno.ENOSPC, 'No space left on device')
  def fail():
    monkeypatch.setattr(summaries.event_file_writer.EventsWriter, failing,
                        full)
  with pytest.raises(OSError) as raised:
    if failing == '__init__':
      fail()
    writer = summaries.Summaries(str(tmp_path))
    fail()  # The writer's own start writes an event: fail after it.
    writer.epoch(_record(2, 0.625))
    writer.close()
  assert raised.value.filename == str(tmp_path / 'tensorboard')
  assert raised.value.errno == errno.ENOSPC
