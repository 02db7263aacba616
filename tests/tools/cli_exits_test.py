"""The tools' shared way out, run in this process: each ending's one line
and exit status as docs/evaluation.md and docs/data.md give them (1 for bad
input, 2 for some tracks failed, 75 interrupted after saving, 130 Ctrl-C,
143 SIGTERM), and the console filter. The tools themselves are run in
cli_test.py."""

import errno
import logging
import os
import signal
import sys

import pytest

from spotipop import cli
from spotipop import errors


class _Exited(Exception):

  def __init__(self, status):
    super().__init__(status)
    self.status = status


@pytest.fixture
def tool(monkeypatch, capsys):
  """Runs cli.run(main) as `python -m spotipop.tool ARGS` would, in this
  process: (exit status, stderr's lines)."""
  previous = signal.getsignal(signal.SIGTERM)

  def exit_now(status):
    raise _Exited(status)
  monkeypatch.setattr(os, '_exit', exit_now)

  def run(main, *args, takes_arguments=False):
    monkeypatch.setattr(sys, 'argv', ['tool', *args])
    try:
      # As the tools call it: takes_arguments only where it is True.
      cli.run(main, 'tool',
              **({'takes_arguments': True} if takes_arguments else {}))
    except _Exited as e:
      status = e.status
    except SystemExit as e:
      status = e.code or 0
    finally:
      signal.signal(signal.SIGTERM, previous)
    return status, capsys.readouterr().err.splitlines()
  return run


def _raises(error):
  def main(argv):
    del argv
    raise error
  return main


@pytest.mark.parametrize('error, status', [
    (errors.ManifestError('manifest.csv, line 3: no audio'), 1),
    (errors.SomeTracksFailed('2 of 5 tracks could not be scored'), 2),
    (errors.Interrupted('interrupted at step 4; run the same command'), 75),
])
def test_a_spotipop_error_is_its_line_and_status(tool, error, status):
  assert tool(_raises(error)) == (status, [f'tool: {error}'])


def test_ctrl_c_is_one_line_and_status_130(tool):
  assert tool(_raises(KeyboardInterrupt())) == (130,
                                                ['tool: interrupted by Ctrl-C'])


def test_sigterm_is_one_line_and_status_143(tool):
  def main(argv):
    del argv
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError('SIGTERM did not stop the tool')
  assert tool(main) == (143, ['tool: stopped by SIGTERM'])


def test_a_full_disk_names_the_file_that_could_not_be_written(tool):
  error = OSError(errno.ENOSPC, 'No space left on device', '/runs/a/x.json')
  status, lines = tool(_raises(error))
  assert status == 1
  assert lines == ['tool: cannot write /runs/a/x.json: no space left on the '
                   'device. Nothing already saved is lost: free space and '
                   'run the same command to resume.']


def test_any_other_failure_is_not_hidden(tool):
  with pytest.raises(ZeroDivisionError):
    tool(_raises(ZeroDivisionError('a bug')))


def test_a_finished_tool_exits_with_what_main_returns(tool):
  assert tool(lambda argv: None) == (0, [])


def test_positional_arguments_are_refused_unless_the_tool_takes_them(tool):
  status, lines = tool(lambda argv: None, 'stray')
  assert status == 1 and lines == ["tool: unexpected arguments: ['stray']"]
  assert tool(lambda argv: len(argv), 'a.mp3', 'b.mp3',
              takes_arguments=True) == (3, [])


def test_an_unknown_flag_is_named_in_one_line(tool):
  status, lines = tool(lambda argv: None, '--no_such_flag=1')
  assert status == 1
  assert len(lines) == 1 and lines[0].startswith('tool: ')
  assert 'no_such_flag' in lines[0]


def _record(pathname, level, message):
  return logging.LogRecord('x', level, pathname, 1, message, None, None)


@pytest.mark.parametrize('pathname, level, message, shown', [
    ('/site-packages/spotipop/training/loop.py', logging.INFO, 'epoch 1', True),
    ('/site-packages/orbax/checkpoint/x.py', logging.INFO, 'opened a file',
     False),
    ('/site-packages/tensorflow_datasets/core/x.py', logging.DEBUG, 'read',
     False),
    ('/site-packages/orbax/checkpoint/x.py', logging.WARNING, 'slow disk',
     True),
    ('/site-packages/etils/epath/x.py', logging.ERROR, 'failed', True),
    ('/site-packages/orbax/checkpoint/x.py', logging.WARNING,
     'read_only=True, setting create=False', False),
    ('/site-packages/apache_beam/x.py', logging.WARNING,
     'Given directory is read only: runs/a', False),
])
def test_the_console_shows_progress_and_warnings_not_library_chatter(
    pathname, level, message, shown):
  assert cli._DropLibraryChatter().filter(  # pylint: disable=protected-access
      _record(pathname, level, message)) is shown


def _raised(function):
  try:
    function()
  except Exception as e:  # pylint: disable=broad-except
    return e


def _backend_failure():
  namespace = {}
  exec(compile('def backends():\n  assert None is not None\n',  # pylint: disable=exec-used
               '/x/jax/_src/xla_bridge.py', 'exec'), namespace)
  return _raised(namespace['backends'])


def test_only_a_backend_failure_under_jax_platforms_is_a_platform_line(
    monkeypatch):
  monkeypatch.setenv('JAX_PLATFORMS', 'cuda')
  assert cli.platform_unavailable(_raised(lambda: [][0])) is None
  assert cli.platform_unavailable(_backend_failure()) == (
      'JAX_PLATFORMS=cuda: JAX could not start that platform on this machine '
      '(JAX plugins installed: none; the CPU is always there): unset '
      'JAX_PLATFORMS, or install the plugin and check the device is visible')
  monkeypatch.delenv('JAX_PLATFORMS')
  assert cli.platform_unavailable(_backend_failure()) is None


def test_the_platform_line_names_the_jax_plugins_installed(monkeypatch):
  class Distribution:

    def __init__(self, name):
      self.metadata = {'Name': name}
  monkeypatch.setattr(cli.importlib.metadata, 'distributions', lambda: [
      Distribution(n) for n in ('numpy', 'jax-cuda12-plugin', 'libtpu',
                                'jax_cuda12_pjrt', 'jax', None)])
  monkeypatch.setenv('JAX_PLATFORMS', 'tpu')
  assert ('(JAX plugins installed: jax-cuda12-plugin, jax_cuda12_pjrt, '
          'libtpu;') in cli.platform_unavailable(_backend_failure())


def test_a_platform_failure_ends_a_tool_in_its_line(tool, monkeypatch):
  monkeypatch.setenv('JAX_PLATFORMS', 'cuda')
  status, lines = tool(_raises(_backend_failure()))
  assert status == 1 and lines[0].startswith(
      'tool: JAX_PLATFORMS=cuda: JAX could not start that platform')
