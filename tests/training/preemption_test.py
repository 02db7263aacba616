"""A stop request is recorded, not acted on mid-step; handlers are restored."""

import os
import signal
import threading

import pytest

from spotipop.training import preemption


@pytest.mark.parametrize('number', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_is_a_request_polled_at_the_next_step(number, monkeypatch):
  def no_sync(step):
    raise AssertionError('one process has no preemption sync to ask')
  monkeypatch.setattr(preemption.multihost_utils,
                      'reached_preemption_sync_point', no_sync)
  before = signal.getsignal(number)
  with preemption.Watcher() as stop:
    assert signal.getsignal(number) is not before  # Watched from here.
    assert not stop.requested(1)
    try:
      os.kill(os.getpid(), number)
    except KeyboardInterrupt:
      pytest.fail('the first request stopped at once')
    assert stop.requested(2)
    assert stop.signal == signal.Signals(number).name
  assert signal.getsignal(number) is before


def test_asking_twice_stops_at_once():
  with preemption.Watcher():
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)


def test_a_watcher_off_the_main_thread_leaves_the_handlers_alone():
  """Python runs handlers only in the main thread; a watcher elsewhere
  installs none (and none is restored on the way out)."""
  seen = {}

  def watch():
    with preemption.Watcher() as stop:
      seen['inside'] = signal.getsignal(signal.SIGTERM)
      seen['requested'] = stop.requested(1)
  before = signal.getsignal(signal.SIGTERM)
  thread = threading.Thread(target=watch)
  thread.start()
  thread.join()
  assert seen == {'inside': before, 'requested': False}
  assert signal.getsignal(signal.SIGTERM) is before


def test_multi_host_runs_stop_at_the_step_the_hosts_agree_on(monkeypatch):
  """Several processes: SIGTERM is left to JAX's preemption sync, whose
  agreed step is where every host stops (and saves)."""
  monkeypatch.setattr(preemption.jax, 'process_count', lambda: 2)
  monkeypatch.setattr(preemption.multihost_utils,
                      'reached_preemption_sync_point', lambda step: step == 7)
  before = signal.getsignal(signal.SIGTERM)
  with preemption.Watcher() as stop:
    assert signal.getsignal(signal.SIGTERM) is before  # Not taken over.
    assert [stop.requested(step) for step in (5, 6)] == [False, False]
    assert stop.requested(7) and stop.signal == 'SIGTERM'
