"""`python -m MODULE ARGS` in a process forked from a server that has already
imported the packages the tools import (multiprocessing's forkserver).

Each tool process otherwise spends seconds importing jax, orbax, TFDS,
LightGBM and matplotlib before its first line runs, and the suite starts
dozens. The server imports those packages only, never spotipop's tools (whose
flags are defined as they run) and never a JAX backend (forking after one
starts is unsafe): the child runs the tool's module as `python -m` does, with
the test's environment, folder, arguments, exit status and output.
conftest.run_module uses it when the environment is the server's; a test that
sets another runs a fresh interpreter instead. imports_test and the start-up
benchmark time fresh interpreters.
"""

import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading

PRELOADED = ('numpy', 'scipy.signal', 'scipy.stats', 'soundfile', 'absl.app',
             'jax', 'flax.linen', 'optax', 'orbax.checkpoint',
             'tensorflow_datasets', 'lightgbm', 'matplotlib.pyplot')
# Set by pytest for each test phase: no package reads it at import.
IGNORED = ('PYTEST_CURRENT_TEST',)

_server = {}


def _comparable(env):
  return {k: v for k, v in env.items() if k not in IGNORED}


def _context():
  """The forkserver context, and the environment its server started with."""
  if not _server:
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload([*PRELOADED, __name__])
    _server.update(context=context, env=_comparable(os.environ))
  return _server['context'], _server['env']


def run(module, args, cwd, env, timeout):
  """subprocess.run([python, -m, module, *args]) as a CompletedProcess, or
  None when env is not the server's (the caller starts a fresh interpreter)."""
  context, server_env = _context()
  if _comparable(env) != server_env:
    return None
  with tempfile.TemporaryDirectory(prefix='spotipop-tool-') as folder:
    out, err = (os.path.join(folder, name) for name in ('stdout', 'stderr'))
    for path in (out, err):  # Empty if the child fails before its tool runs.
      open(path, 'w').close()  # pylint: disable=consider-using-with
    process = context.Process(target=_child,
                              args=(module, list(args), cwd, env, out, err))
    process.start()
    process.join(timeout)
    if process.exitcode is None:
      process.kill()
      process.join()
      raise subprocess.TimeoutExpired([module, *args], timeout)
    with open(out) as f_out, open(err) as f_err:
      return subprocess.CompletedProcess(
          [sys.executable, '-m', module, *args], process.exitcode,
          f_out.read(), f_err.read())


def _child(module, args, cwd, env, out, err):
  """Runs in the forked process: `python -m module args`, then exits."""
  import runpy  # pylint: disable=g-import-not-at-top
  os.environ.clear()
  os.environ.update(env)
  for fd, path in ((1, out), (2, err)):
    os.dup2(os.open(path, os.O_WRONLY), fd)
  os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
  os.chdir(cwd)
  sys.path.insert(0, cwd)  # As `python -m` puts it.
  sys.argv = [module, *args]
  status = 0
  try:
    runpy.run_module(module, run_name='__main__', alter_sys=True)
  except SystemExit as e:
    if isinstance(e.code, int) or e.code is None:
      status = e.code or 0
    else:
      print(e.code, file=sys.stderr)
      status = 1
  except BaseException:  # pylint: disable=broad-except
    sys.excepthook(*sys.exc_info())
    status = 1
  # What interpreter shutdown does: wait for threads, flush the streams.
  for thread in threading.enumerate():
    if thread is not threading.current_thread() and not thread.daemon:
      thread.join()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access
