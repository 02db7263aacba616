"""The documents' links and the files they name lead somewhere: a renamed
file or heading breaks a test, not a reader's click."""

import os
import re
import subprocess

import pytest

from conftest import REPO

LINK = re.compile(r'\]\(([^)\s]+)\)')
# A repository path in running text: `benchmarks/descriptors.py`,
# experiments/default.flags. A segment in capitals is a placeholder
# (experiments/NAME.flags) and is not a path.
NAMED_PATH = re.compile(r'\b(?:spotipop|benchmarks|tests|docs|experiments)/'
                        r'[\w./-]+\.(?:py|md|flags|sh|npz|csv|json)\b')
PLACEHOLDER = re.compile(r'(?:^|/)[A-Z][A-Z_]+[./]')


def documents():
  """The repository's tracked Markdown files, relative to it."""
  listed = subprocess.run(['git', 'ls-files', '*.md'], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.split()
  return listed or pytest.fail('git lists no Markdown files')


def heading_anchor(heading):
  """The anchor GitHub gives a heading: lower case, punctuation dropped,
  spaces as hyphens."""
  return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def anchors(path):
  with open(os.path.join(REPO, path)) as f:
    return {heading_anchor(h) for h in re.findall(r'^#+ (.*)$', f.read(),
                                                   re.M)}


def broken_links(path):
  """(target, why) of each relative link in path that leads nowhere."""
  with open(os.path.join(REPO, path)) as f:
    text = f.read()
  broken = []
  for target in LINK.findall(text):
    if re.match(r'[a-z]+:', target):  # https:, mailto: and the like.
      continue
    file, _, anchor = target.partition('#')
    linked = os.path.normpath(os.path.join(os.path.dirname(path), file)
                              if file else path)
    if not os.path.exists(os.path.join(REPO, linked)):
      broken.append((target, f'no file {linked}'))
    elif anchor and linked.endswith('.md') and anchor not in anchors(linked):
      broken.append((target, f'no heading #{anchor} in {linked}'))
  return broken


def missing_paths(path):
  with open(os.path.join(REPO, path)) as f:
    named = set(NAMED_PATH.findall(f.read()))
  return sorted(p for p in named if not PLACEHOLDER.search(p)
                and not os.path.exists(os.path.join(REPO, p)))


@pytest.mark.parametrize('path', documents())
def test_every_relative_link_leads_to_a_file_and_heading(path):
  assert broken_links(path) == []


@pytest.mark.parametrize('path', documents())
def test_every_repository_path_a_document_names_exists(path):
  assert missing_paths(path) == []


def test_a_broken_link_a_missing_heading_and_a_missing_path_are_found(
    tmp_path, monkeypatch):
  """The checks above find what they are named for."""
  (tmp_path / 'docs').mkdir()
  (tmp_path / 'docs' / 'a.md').write_text(
      '# A: the first heading\n\n'
      '[ok](b.md) [ok too](b.md#b-second) [self](#a-the-first-heading) '
      '[web](https://example.org/x.md) [gone](c.md) [no heading](b.md#c) '
      'docs/b.md docs/missing.md experiments/NAME.flags\n')
  (tmp_path / 'docs' / 'b.md').write_text('# B\n\n## B, second\n')
  monkeypatch.setitem(globals(), 'REPO', str(tmp_path))
  assert broken_links('docs/a.md') == [
      ('c.md', 'no file docs/c.md'),
      ('b.md#c', 'no heading #c in docs/b.md')]
  assert missing_paths('docs/a.md') == ['docs/missing.md']
