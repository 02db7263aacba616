"""Tool start-up: seconds to import each spotipop tool, against its packages.

  python benchmarks/startup.py [--repeats=5] [--tools=spotipop.main,...]

Every `python -m spotipop.TOOL` pays its imports before it reads a flag, and a
test suite, a sweep or a cluster job starts many. Each tool is imported in a
fresh interpreter, best of --repeats; the peer is a fresh interpreter
importing only the packages the design card names (jax, flax, optax, orbax,
tensorflow-datasets, numpy, absl), the floor no tool can start under.
"""

import argparse
import json
import subprocess
import sys
import time

PACKAGES = ('import jax, flax.linen, optax, orbax.checkpoint, '
            'tensorflow_datasets, numpy, absl.app')
TOOLS = ('spotipop.main', 'spotipop.evaluate', 'spotipop.predict',
         'spotipop.explain', 'spotipop.build')
HEAVY = ('lightgbm', 'sklearn', 'matplotlib', 'scipy.stats', 'scipy.signal')


def start_seconds(code, repeats):
  """Best of `repeats` wall times of a fresh `python -c code`."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    subprocess.run([sys.executable, '-c', code], check=True)
    times.append(time.perf_counter() - start)
  return min(times)


def heavy_imports(module):
  """Which of HEAVY importing `module` loads."""
  code = (f'import sys, {module}; '
          f'print(",".join(m for m in {HEAVY!r} if m in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], check=True,
                       capture_output=True, text=True).stdout.strip()
  return out.split(',') if out else []


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--tools', default=','.join(TOOLS),
                      help='comma-separated modules to time')
  parser.add_argument('--json', help='also write the results here')
  args = parser.parse_args()
  floor = start_seconds(PACKAGES, args.repeats)
  print(f'packages alone ({PACKAGES[len("import "):]}): {floor:.2f} s')
  print('| tool | start, s | vs packages alone | also imports |')
  print('| --- | --- | --- | --- |')
  results = {'packages': floor, 'tools': {}}
  for tool in args.tools.split(','):
    seconds = start_seconds(f'import {tool}', args.repeats)
    heavy = heavy_imports(tool)
    results['tools'][tool] = {'seconds': seconds, 'heavy_imports': heavy}
    print(f'| {tool} | {seconds:.2f} | x{seconds / floor:.2f} | '
          f'{", ".join(heavy) or "-"} |')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=1)


if __name__ == '__main__':
  main()
