"""Orbax checkpoints of a run: the latest few for resuming, the best for use.

Two managers, because they answer different questions: `latest/` keeps the N
newest steps so a killed run resumes exactly where it was; `best/` keeps the
step with the best validation --selection_metric, which evaluation and prediction restore.
Each checkpoint holds the train state and the run's progress (early-stopping
counters and per-epoch history) so a resumed run continues bit for bit.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

LATEST, BEST = 'latest', 'best'
# The checkpoint metric that ranks `best/`: train.selection_value's figure.
SELECTION = 'val_selection'


class Checkpoints:

  def __init__(self, workdir, keep=2):
    root = os.path.join(os.path.abspath(workdir), 'checkpoints')
    # Single host: write in the background while training goes on. Multi-host:
    # write synchronously, since orbax's async commit barrier times out there.
    common = dict(create=True,
                  enable_async_checkpointing=jax.process_count() == 1)
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
    # A snapshot: the save may finish in the background while training goes
    # on and the caller updates its progress record.
    progress = json.loads(json.dumps(progress))
    self._managers[which].save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      progress=ocp.args.JsonSave(progress)),
        metrics=metrics, force=True)

  def latest_step(self, which=LATEST):
    return self._managers[which].latest_step()

  def restore(self, which, like_state, step=None):
    """Restores (state, progress) of `step` (default: newest) shaped like like_state.

    Returns None when `which` holds no checkpoint.
    """
    manager = self._managers[which]
    step = manager.latest_step() if step is None else step
    if step is None:
      return None
    if step not in manager.all_steps():
      raise ValueError(f'no {which} checkpoint at step {step}; have '
                       f'{manager.all_steps()}')
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x),
                                       sharding=device),
        like_state)
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), progress=ocp.args.JsonRestore()))
    return restored.state, restored.progress

  def close(self):
    for manager in self._managers.values():
      manager.wait_until_finished()
      manager.close()
