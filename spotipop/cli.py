"""What the command-line tools share: one-line errors, no tracebacks for input.

Unknown or invalid flags and any SpotipopError end the program with one line
on stderr that names the flag, file, folder or step, and a non-zero status.
"""

import sys

from absl import app
from absl import flags

from spotipop import errors
from spotipop import logs


def fail(tool, message):
  """Ends the program with `tool: message` as its only line of output."""
  sys.exit(f'{tool}: {message}')


def run(main, tool):
  """app.run(main) with flag errors and SpotipopErrors as one line each."""
  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(tool, e)

  def guarded(argv):
    if len(argv) > 1:
      fail(tool, f'unexpected arguments: {argv[1:]}')
    logs.quiet_libraries()
    try:
      return main(argv)
    except errors.SpotipopError as e:
      fail(tool, e)

  app.run(guarded, flags_parser=parse)
