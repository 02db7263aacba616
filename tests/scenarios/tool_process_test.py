"""A tool forked from the server behaves as `python -m` in a fresh interpreter."""

import os
import subprocess
import sys

import pytest

import tool_process

TOOL = '''
import sys
print('out', sys.argv[1:])
print('err', file=sys.stderr)
if sys.argv[1] == 'raise':
  raise ValueError('from the tool')
sys.exit(int(sys.argv[1]))
'''


# Tool processes, forked and fresh: outside the quick tier.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize('argument', ['0', '3', 'raise'])
def test_a_forked_tool_exits_and_prints_as_a_fresh_one(tmp_path, argument):
  (tmp_path / 'a_tool.py').write_text(TOOL)
  forked = tool_process.run('a_tool', [argument], str(tmp_path),
                            dict(os.environ), timeout=60)
  fresh = subprocess.run([sys.executable, '-m', 'a_tool', argument],
                         cwd=tmp_path, capture_output=True, text=True,
                         check=False)
  assert forked.returncode == fresh.returncode
  assert forked.stdout == fresh.stdout
  # A traceback's frames above the tool's differ: runpy is called otherwise.
  lines, fresh_lines = forked.stderr.splitlines(), fresh.stderr.splitlines()
  assert lines[:2] == fresh_lines[:2] and lines[-3:] == fresh_lines[-3:]


def test_another_environment_needs_a_fresh_interpreter(tmp_path):
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=2'}
  assert tool_process.run('a_tool', [], str(tmp_path), env, timeout=60) is None
