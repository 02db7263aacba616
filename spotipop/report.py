"""Prints the side-by-side test tables of finished runs as markdown.

  python -m spotipop.report runs/spotify32k_random runs/spotify32k_group ...
"""

import json
import os

from spotipop import cli
from spotipop import errors
from spotipop.evaluation import scorecard


def main(argv):
  """Prints the test table of each workdir given on the command line."""
  if len(argv) < 2:
    raise errors.SpotipopError('usage: python -m spotipop.report WORKDIR '
                               '[WORKDIR ...]')
  for workdir in argv[1:]:
    path = os.path.join(workdir, 'eval', 'test-best', 'report.json')
    try:
      with open(path) as f:
        summary = json.load(f)
    except (OSError, ValueError) as e:
      raise errors.SpotipopError(f'{path}: {e}') from None
    print(f'### {os.path.basename(os.path.normpath(workdir))}\n\n'
          f'{scorecard.headline(summary)}\n\n'
          f'{scorecard.table(scorecard.rows(summary))}\n')


if __name__ == '__main__':
  cli.run(main, 'spotipop.report', takes_arguments=True)
