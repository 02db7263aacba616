"""A stop request is recorded, not acted on mid-step; handlers are restored."""

import os
import signal

import pytest

from spotipop.training import preemption


@pytest.mark.parametrize('number', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_a_request_polled_at_the_next_step(number):
  before = signal.getsignal(number)
  with preemption.Watcher() as stop:
    assert not stop.requested(1)
    os.kill(os.getpid(), number)
    assert stop.requested(2)
    assert stop.signal == signal.Signals(number).name
  assert signal.getsignal(number) is before


def test_asking_twice_stops_at_once():
  with preemption.Watcher():
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
