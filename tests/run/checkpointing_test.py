"""Orbax checkpoints of a run: the latest few for resuming, the best for use."""

import os
import shutil
import threading
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import file_snapshot
from conftest import truncate_checkpoint_state
from spotipop import errors
from spotipop.run import checkpointing
from spotipop.training import loop


def _state(value):
  return {'w': jnp.full((3,), value, jnp.float32), 'step': jnp.int32(value)}


def _progress(step):
  return {'best_step': step, 'history': [{'epoch': step}]}


@pytest.fixture(scope='module')
def saved_once(tmp_path_factory):
  """Steps 1-4 saved to latest (keep 2); best gets the selection values
  0.5, 0.8, 0.7, 0.6."""
  folder = tmp_path_factory.mktemp('saved')
  ckpts = checkpointing.Checkpoints(str(folder), keep=2)
  for step, value in zip((1, 2, 3, 4), (0.5, 0.8, 0.7, 0.6)):
    ckpts.save(checkpointing.LATEST, step, _state(step), _progress(step))
    ckpts.save(checkpointing.BEST, step, _state(step), _progress(step),
               metrics={checkpointing.SELECTION: value})
  ckpts.close()
  return folder


@pytest.fixture
def saved(saved_once, tmp_path):
  """A copy of saved_once's run of its own, for a test to change."""
  shutil.copytree(saved_once, tmp_path, dirs_exist_ok=True)
  return tmp_path


def _steps(folder):
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit())


def test_latest_keeps_the_newest_and_best_the_highest_selection_value(saved):
  root = saved / 'checkpoints'
  assert _steps(root / 'latest') == [3, 4]
  assert _steps(root / 'best') == [2]


def test_a_restore_gives_back_the_state_and_progress(saved):
  ckpts = checkpointing.Checkpoints(str(saved))
  state, progress = ckpts.restore(checkpointing.LATEST, _state(0))
  np.testing.assert_array_equal(state['w'], np.full(3, 4.0))
  assert progress == _progress(4)
  state, progress = ckpts.restore(checkpointing.BEST, _state(0))
  assert int(state['step']) == 2 and progress['best_step'] == 2
  state, _ = ckpts.restore(checkpointing.LATEST, _state(0), step=3)
  assert int(state['step']) == 3
  ckpts.close()


def test_a_missing_step_is_named_with_the_steps_there_are(saved):
  ckpts = checkpointing.Checkpoints(str(saved))
  with pytest.raises(errors.CheckpointError,
                     match=r'latest/1: no such checkpoint; have steps \[3, 4\]'):
    ckpts.restore(checkpointing.LATEST, _state(0), step=1)
  ckpts.close()


def test_an_empty_run_has_nothing_to_restore(tmp_path):
  ckpts = checkpointing.Checkpoints(str(tmp_path))
  assert ckpts.restore(checkpointing.LATEST, _state(0)) is None
  ckpts.close()


def test_restored_arrays_live_on_one_local_device(saved):
  ckpts = checkpointing.Checkpoints(str(saved))
  state, _ = ckpts.restore(checkpointing.LATEST, _state(0))
  ckpts.close()
  assert state['w'].sharding == jax.sharding.SingleDeviceSharding(
      jax.local_devices()[0])


@pytest.mark.parametrize('processes', [1, 2, 4])
def test_a_save_hands_orbax_one_copy_on_one_host_and_global_arrays_on_more(
    processes):
  """One process: the state's copy on its first device. Several: each array
  as one global array over every device of the job (here this process's 8),
  as Orbax writes across hosts."""
  state = loop.replicated(_state(3))  # As the train step returns it.
  handed = checkpointing.arrays_to_save(state, processes)
  assert sorted(handed) == ['step', 'w']
  devices = ({jax.local_devices()[0]} if processes == 1
             else set(jax.devices()))
  assert len(jax.devices()) == 8
  for name, array in handed.items():
    assert array.sharding.device_set == devices, name
    assert array.is_fully_replicated
    np.testing.assert_array_equal(array, _state(3)[name])


def test_saving_a_step_that_is_there_keeps_it(saved):
  """A resumed run redoing a step whose best was saved before a crash."""
  ckpts = checkpointing.Checkpoints(str(saved))
  ckpts.save(checkpointing.BEST, 2, _state(9), _progress(9),
             metrics={checkpointing.SELECTION: 0.8})
  state, progress = ckpts.restore(checkpointing.BEST, _state(0))
  ckpts.close()
  assert int(state['step']) == 2 and progress == _progress(2)


@pytest.mark.slow  # Seconds: three saves and restores.
@pytest.mark.mutation  # The mutation run checks it too.
def test_training_moves_an_unreadable_step_aside_under_a_free_name(saved):
  latest = saved / 'checkpoints' / 'latest'
  for aside in ('corrupt-4', 'corrupt-4.1', 'corrupt-4.2'):
    ckpts = checkpointing.Checkpoints(str(saved))
    if not (latest / '4').exists():
      ckpts.save(checkpointing.LATEST, 4, _state(4), _progress(4))
    truncate_checkpoint_state(latest / '4')
    state, _ = ckpts.restore(checkpointing.LATEST, _state(0))
    ckpts.close()
    assert int(state['step']) == 3
    assert (latest / aside).is_dir() and not (latest / '4').exists()


def test_a_reading_tool_names_an_unreadable_step_and_moves_nothing(saved):
  truncate_checkpoint_state(saved / 'checkpoints' / 'latest' / '4')
  before = file_snapshot(saved)
  ckpts = checkpointing.Checkpoints(str(saved), read_only=True)
  with pytest.raises(errors.CheckpointError,
                     match=r'latest/4: cannot be restored \(.+\); older '
                     r'steps: \[3\]$'):
    ckpts.restore(checkpointing.LATEST, _state(0))
  ckpts.close()
  assert file_snapshot(saved) == before


@pytest.mark.parametrize('error, reason', [
    (ValueError('x' * 400 + '\nthe rest of a long trace'), 'x' * 300),
    (OSError(), 'OSError')])
def test_an_unreadable_steps_reason_is_one_short_line(saved, monkeypatch,
                                                      error, reason):
  """Whatever a failed read raises (TensorStore's run to dozens of lines, or
  none): its first line, at most 300 characters, or the error's type."""
  def fail(*args):
    raise error
  monkeypatch.setattr(checkpointing.Checkpoints, '_restore', staticmethod(fail))
  ckpts = checkpointing.Checkpoints(str(saved), read_only=True)
  with pytest.raises(errors.CheckpointError) as raised:
    ckpts.restore(checkpointing.LATEST, _state(0))
  ckpts.close()
  assert str(raised.value).endswith(
      f'latest/4: cannot be restored ({reason}); older steps: [3]')


def test_a_reading_tool_finds_nothing_in_a_run_without_checkpoints(tmp_path):
  ckpts = checkpointing.Checkpoints(str(tmp_path), read_only=True)
  assert ckpts.restore(checkpointing.BEST, _state(0)) is None
  ckpts.close()
  assert not (tmp_path / 'checkpoints').exists()  # Nothing created.


# Four arrays it lacks are named; of more, the first four and how many more.
@pytest.mark.parametrize('lacks, named', [('bcde', 'b, c, d, e'),
                                          ('bcdefg', 'b, c, d, e and 2 more')])
def test_another_model_is_named_and_not_taken_for_corrupt(saved, lacks, named):
  other = {'w': jnp.zeros((5,)), 'step': jnp.int32(0),
           **{name: jnp.zeros(2) for name in lacks}}
  ckpts = checkpointing.Checkpoints(str(saved))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'latest/4 holds another model than this config: '
                     f'missing from it: {named}; other shapes: '
                     r'w \(3,\) \(config: \(5,\)\)\. Nothing was changed'):
    ckpts.restore(checkpointing.LATEST, other)
  ckpts.close()
  assert _steps(saved / 'checkpoints' / 'latest') == [3, 4]


def test_a_train_states_mismatch_is_named_by_its_parameters(tmp_path):
  """The optimizer's moments mirror the parameters: only the parameters'
  names are given, '/'-joined, list entries by index; arrays the config
  lacks are named too."""
  def state(width, extra):
    params = {'dense': {'kernel': jnp.zeros((width,))},
              'blocks': [jnp.zeros(2), jnp.zeros(2)], **extra}
    return {'params': params, 'mu': params, 'step': jnp.int32(1)}
  ckpts = checkpointing.Checkpoints(str(tmp_path))
  ckpts.save(checkpointing.LATEST, 1, state(3, {'bias': jnp.zeros(1)}),
             _progress(1))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'latest/1 holds another model than this config: '
                     r'not in this model: bias; other shapes: dense/kernel '
                     r'\(3,\) \(config: \(4,\)\)\. Nothing'):
    ckpts.restore(checkpointing.LATEST, state(4, {}))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'this config: missing from it: blocks/2\. '):
    ckpts.restore(checkpointing.LATEST, {
        **state(3, {'bias': jnp.zeros(1)}),
        'params': {**state(3, {'bias': jnp.zeros(1)})['params'],
                   'blocks': [jnp.zeros(2)] * 3}})
  ckpts.close()


def test_a_restore_takes_each_arrays_dtype_from_the_state_it_is_like(saved):
  """The step stays an integer and the weights float32, as the train state
  the run builds has them."""
  ckpts = checkpointing.Checkpoints(str(saved))
  state, _ = ckpts.restore(checkpointing.LATEST, _state(0))
  ckpts.close()
  assert state['step'].dtype == jnp.int32 and int(state['step']) == 4
  assert state['w'].dtype == jnp.float32


@flax.struct.dataclass
class _TrainState:
  """A train state's kinds of keys: attributes, dict keys, tuple entries."""
  step: jax.Array
  params: dict
  opt_state: tuple


def _train_state(width):
  params = {'dense': {'kernel': jnp.zeros((width,))}}
  return _TrainState(step=jnp.int32(1), params=params,
                     opt_state=(params, jnp.zeros((width, 2))))


def test_a_train_state_is_named_by_attribute_key_and_index(tmp_path):
  """A flax train state restores under names that match its checkpoint's;
  a mismatch is named by the parameter path without the attribute, and the
  rest of the state by attribute and index."""
  ckpts = checkpointing.Checkpoints(str(tmp_path))
  ckpts.save(checkpointing.LATEST, 1, _train_state(3), _progress(1))
  state, _ = ckpts.restore(checkpointing.LATEST, _train_state(3))
  assert state.params['dense']['kernel'].shape == (3,)
  assert state.opt_state[1].shape == (3, 2)
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'this config: other shapes: dense/kernel \(3,\) '
                     r'\(config: \(4,\)\)\. Nothing'):
    ckpts.restore(checkpointing.LATEST, _train_state(4))
  other = _train_state(3).replace(opt_state=(_train_state(3).params,
                                             jnp.zeros((3, 5))))
  with pytest.raises(errors.ConfigMismatchError,
                     match=r'this config: other shapes: opt_state/1 \(3, 2\) '
                     r'\(config: \(3, 5\)\)\. Nothing'):
    ckpts.restore(checkpointing.LATEST, other)
  ckpts.close()


def test_output_held_back_is_let_through_on_success_and_dropped_on_failure(
    capfd):
  """What TensorStore prints while a restore succeeds reaches the console;
  on failure, only the caller's one-line error does, even what its threads
  print after the error is raised."""
  with checkpointing._stderr_kept_only_on_success():  # pylint: disable=protected-access
    os.write(2, b'kept\n')
  late = threading.Timer(0.05, os.write, (2, b'late\n'))
  with pytest.raises(ValueError):
    with checkpointing._stderr_kept_only_on_success(quiet_seconds=0.2):  # pylint: disable=protected-access
      os.write(2, b'dropped\n')
      late.start()
      raise ValueError
  late.join()
  assert capfd.readouterr().err == 'kept\n'


def test_a_held_stream_is_waited_on_until_quiet_and_no_longer_than_most(
    tmp_path):
  """Writes every 10 ms: the wait ends once they stop (after 0.3 s, within
  two quiet periods of 0.15 s), or at most_seconds while they go on. (A
  quiet period well above the writes' gap: on a loaded machine a thread's
  10 ms sleep can last several times that.)"""
  def wait(write_for, most):
    path = tmp_path / f'held-{write_for}-{most}'
    done = threading.Event()
    with open(path, 'wb', buffering=0) as held:
      held.write(b'.')  # One byte held already: a size of 1 is no news.
      stop = time.monotonic() + write_for
      def writer():
        while time.monotonic() < stop and not done.is_set():
          held.write(b'.')
          time.sleep(0.01)
      thread = threading.Thread(target=writer)
      thread.start()
      started = time.monotonic()
      checkpointing._wait_until_quiet(held.fileno(), 0.15, most)  # pylint: disable=protected-access
      waited = time.monotonic() - started
      done.set()
      thread.join()
    return waited
  assert 0.3 <= wait(0.3, 5.0) < 0.3 + 2 * 0.15 + 0.4
  assert 0.6 <= wait(10.0, 0.6) < 0.6 + 0.15 + 0.45  # Twice most: 1.2 s.
  assert 0.15 <= wait(0.0, 5.0) < 0.15 + 0.15 + 0.4  # Quiet from the start.
