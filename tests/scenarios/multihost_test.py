"""Two processes x 4 CPU devices, joined by jax.distributed, train like one x 8.

As documented for clusters, the dataset is built first with Beam (launch.sh
build; here on Beam's runner in its own process, as beam_catalog_test builds
on worker processes), and no training host builds it again.
"""

import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO
from conftest import small_flags
from conftest import train_here
from spotipop.run import workdir as workdir_lib
from compile_flags import TEST_XLA_FLAGS

# A scenario: whole tools and runs, outside the quick tier.
pytestmark = pytest.mark.slow


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _files(folder):
  """The dataset's files and their modification times (not the build lock,
  which each reader takes, and writes its pid into)."""
  return {p: p.stat().st_mtime_ns for p in folder.rglob('*')
          if p.name != '.spotipop-build.lock'}


def test_two_hosts_match_one_host(catalogue, tmp_path):
  flags = [*small_flags(catalogue[0], tmp_path / 'tfds'), '--dropout=0',
           '--num_epochs=1']
  build = subprocess.run(
      ['bash', 'launch.sh', 'build', 'default', *flags, '--build_runner=beam'],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={'PATH': '/usr/bin:/bin', 'PYTHON': sys.executable})
  assert build.returncode == 0, build.stderr[-4000:]
  assert 'train 34, validation 7, test 7; 0 skipped' in build.stdout
  built = _files(tmp_path / 'tfds')

  single = tmp_path / 'single'
  train_here(single, *flags)  # On 8 devices, as the CLI's would be.

  multi = tmp_path / 'multi'
  port = _free_port()
  processes = [
      subprocess.Popen(
          ['bash', 'launch.sh', 'multihost', 'default', *flags,
           f'--workdir={multi}'],
          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
          env={'PATH': '/usr/bin:/bin', 'PYTHON': sys.executable,
               'XLA_FLAGS': '--xla_force_host_platform_device_count=4 '
                            + TEST_XLA_FLAGS,
               'JAX_COORDINATOR_ADDRESS': f'localhost:{port}',
               'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': str(i)})
      for i in range(2)]
  outputs = [p.communicate(timeout=600)[0] for p in processes]
  for p, out in zip(processes, outputs):
    assert p.returncode == 0, out[-4000:]
  assert 'spotipop on 2 process(es)' in outputs[0]
  assert '| spotipop |' in outputs[0]  # Host 0 reports.

  assert _files(tmp_path / 'tfds') == built  # Read, never rebuilt.

  _, _, _, expected = workdir_lib.restore_run(str(single), 'latest')
  _, _, _, actual = workdir_lib.restore_run(str(multi), 'latest')
  assert int(actual.step) == int(expected.step)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-6),
               actual.params, expected.params)
