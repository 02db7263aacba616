"""Fault injection for tests: a run that dies at the step a test chooses.

SPOTIPOP_KILL_AFTER_STEP=N makes training send itself SIGKILL right after
step N and the checkpoint due then: the crash that resuming exists for, at a
known step rather than wherever a test's polling happened to catch it.
N:SIGNAL sends that signal instead (N:SIGTERM is a cluster's preemption
notice, N:SIGINT a Ctrl-C).
"""

import os
import signal

KILL_AFTER_STEP = 'SPOTIPOP_KILL_AFTER_STEP'


def after_step(step):
  """Signals this process if the environment asks for it after this step."""
  at, _, name = os.environ.get(KILL_AFTER_STEP, '').partition(':')
  if at == str(step):
    os.kill(os.getpid(), getattr(signal, name or 'SIGKILL'))
