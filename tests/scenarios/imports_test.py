"""The package's import graph: one way, no cycles; light tools stay light.

The command-line tools are the modules at the package's top level but its
shared vocabulary (config, errors); cli is the tools' own layer. The library is
everything in a folder, plus config and errors, and never imports a tool.
"""

import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = os.path.join(REPO, 'spotipop')


def _module_name(path):
  relative = os.path.relpath(path, REPO)[:-len('.py')].replace(os.sep, '.')
  return relative.removesuffix('.__init__')


def import_graph():
  """{module: {spotipop modules it imports}}, lazy imports included."""
  modules = {}
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith('.py'):
        modules[_module_name(os.path.join(folder, name))] = os.path.join(
            folder, name)
  graph = {}
  for module, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        imported |= {alias.name for alias in node.names}
      elif isinstance(node, ast.ImportFrom) and node.module:
        imported |= {f'{node.module}.{alias.name}' for alias in node.names}
        imported.add(node.module)
    graph[module] = {m for m in imported if m in modules and m != module}
  return graph


def _cycle(graph):
  """A list of modules that import each other round, or None."""
  state = {}

  def visit(module, path):
    state[module] = 'open'
    for child in sorted(graph[module]):
      if state.get(child) == 'open':
        return path[path.index(child):] + [child]
      if child not in state and (found := visit(child, path + [child])):
        return found
    state[module] = 'done'
    return None

  for module in sorted(graph):
    if module not in state and (found := visit(module, [module])):
      return found
  return None


def test_the_import_graph_has_no_cycle():
  assert _cycle(import_graph()) is None, ' -> '.join(_cycle(import_graph()))


TOOLS = ('spotipop.main', 'spotipop.build', 'spotipop.evaluate',
         'spotipop.predict', 'spotipop.explain', 'spotipop.replicates',
         'spotipop.report', 'spotipop.demo', 'spotipop.compare',
         'spotipop.catalogues')
SHARED = ('spotipop.config', 'spotipop.errors')


def test_the_top_level_holds_the_tools_and_the_shared_vocabulary_only():
  top = {m for m in import_graph() if m.count('.') <= 1}
  packages = {m for m in top if os.path.isdir(
      os.path.join(REPO, *m.split('.')))}
  assert top - packages == {*TOOLS, *SHARED, 'spotipop.cli'}


TOOL_LAYER = {*TOOLS, 'spotipop.cli'}


def _library_importing_tools(graph):
  """{library module: the tools it imports}."""
  return {module: imported & TOOL_LAYER for module, imported in graph.items()
          if module not in TOOL_LAYER and imported & TOOL_LAYER}


def test_the_library_never_imports_a_tool():
  assert _library_importing_tools(import_graph()) == {}


def test_a_library_module_importing_a_tool_is_seen():
  graph = {**import_graph(), 'spotipop.evaluation.metrics': {'spotipop.evaluate'}}
  assert _library_importing_tools(graph) == {
      'spotipop.evaluation.metrics': {'spotipop.evaluate'}}


# The library's folders, lowest first (docs/architecture.md): each imports
# only from the folders before it.
LAYERS = ('storage', 'audio', 'data', 'model', 'run', 'evaluation',
          'explanation', 'training', 'prediction')


def _upward_imports(graph):
  """[(module, an imported module of a higher folder)]."""
  def layer(module):
    parts = module.split('.')
    return LAYERS.index(parts[1]) if len(parts) > 2 else None
  return [(module, child) for module, imported in graph.items()
          for child in imported
          if layer(module) is not None and layer(child) is not None
          and layer(child) > layer(module)]


def test_each_library_folder_imports_only_the_folders_below_it():
  folders = {m.split('.')[1] for m in import_graph() if m.count('.') >= 2}
  assert folders == set(LAYERS)
  assert _upward_imports(import_graph()) == []


def test_an_upward_import_is_seen():
  graph = {**import_graph(), 'spotipop.data.splits': {'spotipop.run.workdir'}}
  assert _upward_imports(graph) == [('spotipop.data.splits',
                                     'spotipop.run.workdir')]


def test_the_cycle_finder_finds_a_cycle():
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']


@pytest.mark.parametrize('tool', ['spotipop.evaluate', 'spotipop.predict',
                                  'spotipop.explain'])
def test_reading_tools_do_not_import_the_trainer(tool):
  assert 'spotipop.training.loop' not in _reachable(import_graph(), tool)


def _reachable(graph, module):
  seen, stack = set(), [module]
  while stack:
    for child in graph[stack.pop()] - seen:
      seen.add(child)
      stack.append(child)
  return seen


# Each takes about a second or more to import (benchmarks/startup.py); a tool
# loads one only where it draws, fits trees or resamples, so a start that
# stops at a bad flag does not wait for it.
HEAVY = ('matplotlib', 'lightgbm', 'sklearn', 'scipy.stats', 'scipy.signal')


# Each starts a fresh interpreter that imports a tool: outside the quick tier.
@pytest.mark.slow
@pytest.mark.parametrize('tool', ['spotipop.main', 'spotipop.predict',
                                  'spotipop.explain'])
def test_tools_start_without_plotting_lightgbm_or_scipy_stats(tool):
  code = (f'import sys, {tool}; print(sorted(m for m in {HEAVY!r} '
          'if m in sys.modules))')
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                       capture_output=True, text=True).stdout
  assert out.strip() == '[]'



@pytest.mark.slow
@pytest.mark.parametrize('tool', ['spotipop.build', 'spotipop.catalogues',
                                  'spotipop.report'])
def test_tools_that_compute_nothing_in_jax_start_without_it(tool):
  """A build without descriptors decodes and writes: JAX, a second of
  imports, comes in only with --descriptors=audio."""
  code = f'import sys, {tool}; print("jax" in sys.modules)'
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True,
                       capture_output=True, text=True).stdout
  assert out.strip() == 'False'
