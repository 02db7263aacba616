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
# The checkpoint metric that ranks `best/`: loop.selection_value's figure.
SELECTION = 'val_selection'


def arrays_to_save(state, process_count):
  """The state replicated on this host's devices, as Orbax should be handed
  it when process_count processes save together."""
  if process_count > 1:
    # pmap outputs are host-local; orbax writes global arrays across hosts.
    return jax.tree.map(
        ocp.utils.fully_replicated_host_local_array_to_global_array, state)
  # One host: its copy on one device. Given the array replicated on every
  # device, Orbax compiles a slice per device and array to pick the replica
  # it writes, seconds of a small run's first save.
  return jax.device_put(state, jax.local_devices()[0])


class Checkpoints:
  """The latest/ and best/ managers of a run.

  read_only: for the tools that only read a run (evaluate, predict):
  nothing is created, saved, moved or deleted, and a step that cannot be
  restored is an error naming it rather than a step moved aside.
  """

  def __init__(self, workdir, keep=2, read_only=False):
    root = self._root = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._read_only = read_only
    # Saves are synchronous: a save that fails (a full disk) fails here, in one
    # place that can name its folder, and the checkpoints of these models are
    # small enough that writing in the background saves little.
    common = dict(create=not read_only, read_only=read_only,
                  enable_async_checkpointing=False)
    # The handlers let item_metadata read a step's parameter shapes without
    # restoring it (_check_structure).
    handlers = dict(item_handlers={
        'state': ocp.StandardCheckpointHandler(),
        'progress': ocp.JsonCheckpointHandler()})
    self._managers = {
        LATEST: ocp.CheckpointManager(
            os.path.join(root, LATEST),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, **common),
            **handlers),
        BEST: ocp.CheckpointManager(
            os.path.join(root, BEST),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda m: m[SELECTION], best_mode='max',
                **common),
            **handlers),
    }

  def save(self, which, step, state, progress, metrics=None):
    """Saves `step` unless it is already there.

    A step is only listed once Orbax has finalized it, and a resumed run
    recomputes the same state bit for bit, so a step saved before a crash
    (say, the best of an epoch whose latest save then hit a full disk) is the
    one this call would write.
    """
    if step in self._managers[which].all_steps():
      logging.info('%s already holds step %d', self._folder(which, step), step)
      return
    state = arrays_to_save(state, jax.process_count())
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

    A step whose parameters differ from like_state's (another model, from a
    code or config change) is a ConfigMismatchError naming them; nothing is
    moved. A named step that does not restore is a CheckpointError naming its
    folder. Without a step, the newest step that restores; an unreadable one
    (a truncated file after a crash or a full disk) is, when training, moved
    aside to `corrupt-STEP` with a warning and the next older one is tried,
    and when read_only, an error. Returns None when `which` holds no
    checkpoint.
    """
    manager = self._managers[which]
    if step is not None and step not in manager.all_steps():
      raise errors.CheckpointError(
          f'{self._folder(which, step)}: no such checkpoint; have steps '
          f'{sorted(manager.all_steps())}')
    candidates = ([step] if step is not None
                  else sorted(manager.all_steps(), reverse=True))
    for candidate in candidates:
      folder = self._folder(which, candidate)
      try:
        with _stderr_kept_only_on_success():
          self._check_structure(which, candidate, like_state)
          return self._restore(manager, candidate, like_state)
      except errors.ConfigMismatchError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        # Any failure to read a step makes it unusable; an older one may not be.
        reason = _first_line(e)
        if step is not None or self._read_only:
          older = [s for s in manager.all_steps() if s < candidate]
          raise errors.CheckpointError(
              f'{folder}: cannot be restored ({reason})'
              + (f'; older steps: {sorted(older)}' if older else '')) from None
        aside = _free_name(os.path.dirname(folder), f'corrupt-{candidate}')
        logging.warning('%s cannot be restored (%s); moved to %s, trying an '
                        'older step', folder, reason, os.path.basename(aside))
        if jax.process_index() == 0:
          os.replace(folder, aside)
        manager.reload()
    return None

  def _check_structure(self, which, step, like_state):
    """Refuses a step whose arrays' names or shapes are not like_state's.

    The message names the parameters where they differ (the optimizer's
    moments mirror them), else whatever differs.
    """
    try:
      stored = self._managers[which].item_metadata(step)['state']
    except Exception:  # pylint: disable=broad-except
      return  # Unreadable metadata: the restore says what is wrong.
    have, want = _shapes(stored), _shapes(like_state)
    if have == want:
      return
    params = lambda shapes: {k[len('params/'):]: v for k, v in shapes.items()
                             if k.startswith('params/')}
    if params(have) != params(want):
      have, want = params(have), params(want)
    problems = []
    for label, names in (('missing from it', sorted(want.keys() - have.keys())),
                         ('not in this model', sorted(have.keys() - want.keys()))):
      if names:
        problems.append(f'{label}: {_listed(names)}')
    reshaped = sorted(n for n in want.keys() & have.keys() if want[n] != have[n])
    if reshaped:
      problems.append('other shapes: ' + _listed(
          [f'{n} {have[n]} (config: {want[n]})' for n in reshaped]))
    raise errors.ConfigMismatchError(
        f'{self._folder(which, step)} holds another model than this config: '
        f'{"; ".join(problems)}. Nothing was changed; use the settings it was '
        'trained with, or a new --workdir.')

  def _folder(self, which, step):
    return os.path.join(self._root, which, str(step))

  @staticmethod
  def _restore(manager, step, like_state):
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x),
                                       sharding=device),
        like_state)
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract),
        progress=ocp.args.JsonRestore()))
    return restored.state, restored.progress

  def close(self):
    for manager in self._managers.values():
      manager.wait_until_finished()
      manager.close()


def _shapes(tree):
  """{'params/Tower/Layer/kernel': shape} of a train state or its metadata."""
  def name(key):  # A dict key, attribute or sequence index.
    return str(getattr(key, 'key', getattr(key, 'name', getattr(key, 'idx',
                                                                key))))
  return {'/'.join(map(name, path)): tuple(getattr(leaf, 'shape',
                                                   np.shape(leaf)))
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _listed(names, shown=4):
  more = f' and {len(names) - shown} more' if len(names) > shown else ''
  return ', '.join(names[:shown]) + more


def _free_name(folder, name):
  """name, or name.1, name.2, ... : the first not yet in folder."""
  candidate, n = name, 0
  while os.path.exists(os.path.join(folder, candidate)):
    n += 1
    candidate = f'{name}.{n}'
  return os.path.join(folder, candidate)


def _first_line(error):
  """The first line of an error's message: TensorStore's run to dozens."""
  return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


@contextlib.contextmanager
def _stderr_kept_only_on_success(quiet_seconds=0.5, most_seconds=5.0):
  """Holds back what is written to fd 2 during the block; drops it on failure.

  When a read or write fails part-way, TensorStore's threads print tracebacks
  of their own (callbacks into an event loop Orbax has closed, printed past
  sys.excepthook), before or after the error reaches us: on failure, fd 2
  stays held until they have printed nothing for quiet_seconds. The caller
  reports the failure in one line instead.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    except BaseException:
      _wait_until_quiet(held.fileno(), quiet_seconds, most_seconds)
      raise
    else:
      sys.stderr.flush()
      held.seek(0)
      os.write(saved, held.read())
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)


def _wait_until_quiet(fd, quiet_seconds, most_seconds):
  """Returns once the file at fd has not grown for quiet_seconds."""
  deadline = time.monotonic() + most_seconds
  size = -1
  while time.monotonic() < deadline:
    if os.fstat(fd).st_size == size:
      return
    size = os.fstat(fd).st_size
    time.sleep(quiet_seconds)
