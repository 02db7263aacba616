"""Orbax checkpoints of a run: the latest few for resuming, the best for use.

Two managers, because they answer different questions: `latest/` keeps the N
newest steps so a killed run resumes exactly where it was; `best/` keeps the
step with the best validation --selection_metric, which evaluation and prediction restore.
Each checkpoint holds the train state and the run's progress (early-stopping
counters and per-epoch history) so a resumed run continues bit for bit.
"""

import contextlib
import os
import sys
import tempfile
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from spotipop import errors

LATEST, BEST = 'latest', 'best'
# The checkpoint metric that ranks `best/`: train.selection_value's figure.
SELECTION = 'val_selection'


class Checkpoints:

  def __init__(self, workdir, keep=2):
    root = self._root = os.path.join(os.path.abspath(workdir), 'checkpoints')
    # Saves are synchronous: a save that fails (a full disk) fails here, in one
    # place that can name its folder, and the checkpoints of these models are
    # small enough that writing in the background saves little.
    common = dict(create=True, enable_async_checkpointing=False)
    self._managers = {
        LATEST: ocp.CheckpointManager(
            os.path.join(root, LATEST),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, **common)),
        BEST: ocp.CheckpointManager(
            os.path.join(root, BEST),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda m: m[SELECTION], best_mode='max',
                **common)),
    }

  def save(self, which, step, state, progress, metrics=None):
    if jax.process_count() > 1:
      # pmap outputs are host-local; orbax writes global arrays across hosts.
      state = jax.tree.map(
          ocp.utils.fully_replicated_host_local_array_to_global_array, state)
    try:
      with _stderr_kept_only_on_success():
        self._managers[which].save(
            step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                          progress=ocp.args.JsonSave(progress)),
            metrics=metrics, force=True)
    except Exception as e:  # pylint: disable=broad-except
      if (message := errors.disk_full(e, self._folder(which, step))) is None:
        raise
      raise errors.CheckpointError(message) from None

  def restore(self, which, like_state, step=None):
    """Restores (state, progress) of `step`, shaped like like_state.

    Without a step, the newest step that restores: an unreadable one (a
    truncated file after a crash or a full disk) is moved aside to
    `corrupt-STEP` with a warning, and the next older one is tried. A named
    step that does not restore is a CheckpointError naming its folder.
    Returns None when `which` holds no readable checkpoint.
    """
    manager = self._managers[which]
    if step is not None:
      if step not in manager.all_steps():
        raise errors.CheckpointError(
            f'{self._folder(which, step)}: no such checkpoint; have steps '
            f'{sorted(manager.all_steps())}')
      try:
        return self._restore(manager, step, like_state)
      except Exception as e:  # pylint: disable=broad-except
        raise errors.CheckpointError(
            f'{self._folder(which, step)}: cannot be restored '
            f'({_first_line(e)})') from None
    for candidate in sorted(manager.all_steps(), reverse=True):
      try:
        return self._restore(manager, candidate, like_state)
      except Exception as e:  # pylint: disable=broad-except
        # Any failure to read a step makes it unusable; an older one may not be.
        folder = self._folder(which, candidate)
        logging.warning('%s cannot be restored (%s); moved to corrupt-%d, '
                        'trying an older step', folder, _first_line(e),
                        candidate)
        if jax.process_index() == 0:
          os.replace(folder, os.path.join(os.path.dirname(folder),
                                          f'corrupt-{candidate}'))
        manager.reload()
    return None

  def _folder(self, which, step):
    return os.path.join(self._root, which, str(step))

  @staticmethod
  def _restore(manager, step, like_state):
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x),
                                       sharding=device),
        like_state)
    with _stderr_kept_only_on_success():
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract),
          progress=ocp.args.JsonRestore()))
    return restored.state, restored.progress

  def close(self):
    for manager in self._managers.values():
      manager.wait_until_finished()
      manager.close()


def _first_line(error):
  """The first line of an error's message: TensorStore's run to dozens."""
  return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


@contextlib.contextmanager
def _stderr_kept_only_on_success(grace_seconds=0.5):
  """Holds back what is written to fd 2 during the block; drops it on failure.

  When a read or write fails part-way, TensorStore's threads print tracebacks
  of their own (callbacks into an event loop Orbax has closed, printed past
  sys.excepthook), before or after the error reaches us. The caller reports
  the failure in one line instead.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    except BaseException:
      time.sleep(grace_seconds)  # Let in-flight reads finish printing.
      raise
    else:
      sys.stderr.flush()
      held.seek(0)
      os.write(saved, held.read())
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
