"""Stopping a run cleanly when the cluster preempts it or a person presses Ctrl-C.

SIGTERM (what schedulers send before they evict a job) or Ctrl-C asks
training to stop after the step in flight: it saves that step to latest/,
ends with errors.Interrupted: "interrupted ... at step N; run the same command
to resume", status 75. A second Ctrl-C stops at once, with one line and status 130.

Multi-host runs must all save the same step. There, SIGTERM is left to JAX's
preemption sync service (jax.distributed.initialize starts it): it tells every
host the first step that all of them can still reach, and each stops there.
Ctrl-C stops a multi-host run at once (status 130): it reaches the hosts at
different steps, and the latest periodic checkpoint is where it resumes.
"""

import signal
import threading

import jax
from jax.experimental import multihost_utils


class Watcher:
  """Records a stop request while training runs; `requested(step)` polls it."""

  def __init__(self):
    self.signal = None
    self._previous = {}

  def __enter__(self):
    # Python runs signal handlers in the main thread only; multi-host runs
    # leave SIGTERM to JAX, and Ctrl-C, which would reach the hosts at
    # different steps, stops them at once.
    if (threading.current_thread() is not threading.main_thread()
        or jax.process_count() > 1):
      return self
    for number in (signal.SIGINT, signal.SIGTERM):
      self._previous[number] = signal.signal(number, self._handle)
    return self

  def __exit__(self, *exc_info):
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous.clear()

  def _handle(self, number, frame):
    del frame
    if self.signal is not None:
      raise KeyboardInterrupt  # Asked twice: stop now.
    self.signal = signal.Signals(number).name

  def requested(self, step):
    """True at the step where every process should save and stop.

    Call it once after every step, on every host.
    """
    if (jax.process_count() > 1
        and multihost_utils.reached_preemption_sync_point(step)):
      self.signal = 'SIGTERM'
    return self.signal is not None
