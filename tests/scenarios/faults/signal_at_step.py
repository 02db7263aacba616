"""Runs a tool that signals itself after a chosen training step.

  python tests/scenarios/faults/signal_at_step.py N[:SIGNAL] MODULE ARGS...

runs `python -m MODULE ARGS` with a hook in the training loop that sends this
process SIGNAL (default SIGKILL) right after step N and the checkpoint due
then: the crash that resuming exists for, at a known step rather than wherever
a test's polling happened to catch it. N:SIGTERM is a cluster's preemption
notice, N:SIGINT a Ctrl-C.
"""

import os
import runpy
import signal
import sys


def main():
  at, _, name = sys.argv[1].partition(':')
  module, args = sys.argv[2], sys.argv[3:]
  sys.path.insert(0, os.getcwd())  # As `python -m` puts it.
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top

  def signal_at(step):
    if step == int(at):
      os.kill(os.getpid(), getattr(signal, name or 'SIGKILL'))
  loop.AFTER_STEP.append(signal_at)
  sys.argv = [module, *args]
  runpy.run_module(module, run_name='__main__', alter_sys=True)


if __name__ == '__main__':
  main()
