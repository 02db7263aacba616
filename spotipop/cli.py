"""What the command-line tools share: one-line errors, no tracebacks for input.

Unknown or invalid flags, any SpotipopError and a full disk end the program
with one line on stderr that names the flag, file, folder or step, and a
non-zero status: 1, 75 for a run interrupted after saving (errors.Interrupted),
130 for Ctrl-C, 143 for SIGTERM (where training has not taken it to save
first: training/preemption.py).
"""

import importlib.metadata
import logging
import os
import signal
import sys
import traceback

from absl import app
from absl import flags
from absl import logging as absl_logging

from spotipop import errors

_CHATTY = ('/orbax/', '/tensorflow_datasets/', '/etils/', '/apache_beam/')
# Orbax warns that a read-only checkpoint manager is read-only: the reading
# tools open them so on purpose.
_EXPECTED = ('read_only=True, setting', 'Given directory is read only')


class _DropLibraryChatter(logging.Filter):
  """Keeps the console readable: spotipop's progress, not library chatter.

  Library INFO records (which file a library opened) are not progress; nor are
  warnings about a choice spotipop made.
  """

  def filter(self, record):
    if not any(part in record.pathname for part in _CHATTY):
      return True
    if any(text in record.getMessage() for text in _EXPECTED):
      return False
    return record.levelno >= logging.WARNING


# Distributions that give JAX a backend besides the CPU.
_PLATFORM_PLUGINS = ('jax-cuda', 'jax_cuda', 'jax-rocm', 'jax_rocm', 'libtpu')


def platform_unavailable(error):
  """One line for a JAX_PLATFORMS backend that could not start, or None.

  JAX reports a platform that is not there as a bare AssertionError (or a
  RuntimeError) from its backend setup; the user set one variable and needs
  to hear which, and what this machine has.
  """
  requested = os.environ.get('JAX_PLATFORMS')
  frames = traceback.extract_tb(error.__traceback__)
  if not requested or not any(f.filename.endswith('xla_bridge.py')
                              for f in frames):
    return None
  plugins = sorted({d.metadata['Name'] for d in importlib.metadata.distributions()
                    if d.metadata['Name'] and d.metadata['Name'].lower(
                    ).startswith(_PLATFORM_PLUGINS)})
  return (f'JAX_PLATFORMS={requested}: JAX could not start that platform on '
          f'this machine (JAX plugins installed: {", ".join(plugins) or "none"}'
          '; the CPU is always there): unset JAX_PLATFORMS, or install the '
          "plugin and check the device is visible")


def fail(tool, message, status=1):
  """Ends the program with `tool: message` as its last line of output.

  It exits at once, without interpreter shutdown: checkpoints are closed by
  then, and library threads still winding down have nothing left to report.
  """
  print(f'{tool}: {message}', file=sys.stderr)
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access


class _Terminated(KeyboardInterrupt):
  """SIGTERM, raised where Ctrl-C would be: files being written are removed
  whole (atomic_files) and locks let go on the way out."""


def _terminate(number, frame):
  del number, frame
  raise _Terminated


def run(main, tool, takes_arguments=False):
  """app.run(main); flag errors, SpotipopErrors and a full disk: one line each.

  Positional arguments are refused unless the tool takes_arguments.
  """
  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(tool, e)

  def guarded(argv):
    if len(argv) > 1 and not takes_arguments:
      fail(tool, f'unexpected arguments: {argv[1:]}')
    absl_logging.get_absl_handler().addFilter(_DropLibraryChatter())
    signal.signal(signal.SIGTERM, _terminate)
    try:
      return main(argv)
    except errors.SpotipopError as e:
      fail(tool, e, e.exit_status)
    except _Terminated:
      fail(tool, 'stopped by SIGTERM', 128 + signal.SIGTERM)
    except KeyboardInterrupt:
      fail(tool, 'interrupted by Ctrl-C', 130)
    except Exception as e:  # pylint: disable=broad-except
      message = errors.first_disk_full(e) or platform_unavailable(e)
      if message is None:
        raise
      fail(tool, message)

  app.run(guarded, flags_parser=parse)
