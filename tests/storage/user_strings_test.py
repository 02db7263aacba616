"""A user's text stays data: file names, CSV cells and printed lines."""

import csv
import hashlib
import io
import os

import pytest

from spotipop.storage import user_strings


@pytest.mark.parametrize('text', ['demo0007', 'track_1.2-b', 'A' * 80])
def test_a_plain_id_is_its_own_file_name(text):
  assert user_strings.file_name(text) == text


@pytest.mark.parametrize('text', [
    '../../escape', '/etc/passwd', '..', '.hidden', 'a/b', 'a\\b', 'tab\there',
    'line\nbreak', 'caf\u00e9', 'A' * 81, '', 'nul\x00'])
def test_any_other_id_becomes_a_name_inside_its_folder(tmp_path, text):
  name = user_strings.file_name(text)
  assert name and os.sep not in name and not name.startswith('.')
  assert set(name) <= set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
                          '0123456789._-')
  # Up to 80 plain characters, then '-' and a 12-digit hash.
  assert len(name) <= 80 + 13
  path = tmp_path / f'track-{name}.png'
  path.write_text('x')
  assert os.path.dirname(os.path.realpath(path)) == os.path.realpath(tmp_path)


def test_ids_that_differ_only_in_unsafe_characters_get_different_names():
  ids = ['a/b', 'a\\b', 'a?b', 'a b', 'a_b', 'A' * 81, 'A' * 82]
  assert len({user_strings.file_name(i) for i in ids}) == len(ids)


@pytest.mark.parametrize('cell, written', [
    ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
    ('+1+1', "'+1+1"), ('-cmd', "'-cmd"), ('@SUM(A1)', "'@SUM(A1)"),
    ('\tx', "'\tx"), ('\rx', "'\rx"),
    ('-0.5', '-0.5'), ('+3', '+3'), ('-1e-3', '-1e-3'),  # Numbers pass.
    ('plain', 'plain'), ('a=b', 'a=b'), ('', ''), (0.25, 0.25), (3, 3)])
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(cell, written):
  assert user_strings.csv_cell(cell) == written


def test_csv_records_escape_each_value_and_keep_their_names():
  assert user_strings.csv_record({'title': '=1', 'listens': '-3', 'n': 4}) == {
      'title': "'=1", 'listens': '-3', 'n': 4}


def test_csv_rows_escape_each_cell_and_read_back_as_written():
  buffer = io.StringIO()
  csv.writer(buffer).writerow(user_strings.csv_row(['=1+1', '-2', 'ok']))
  assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["'=1+1", '-2',
                                                              'ok']


@pytest.mark.parametrize('text, printed', [
    ('a\nb', 'a\\nb'), ('a\r\nb', 'a\\r\\nb'), ('a\tb', 'a\\tb'),
    ('\x1b[31mred', '\\x1b[31mred'), ('a\u2028b', 'a\\u2028b'),
    ('caf\u00e9 \u97f3\u697d', 'caf\u00e9 \u97f3\u697d'), ('plain', 'plain')])
def test_a_printed_id_stays_on_one_line(text, printed):
  assert user_strings.one_line(text) == printed
  assert len(user_strings.one_line(text).splitlines()) == 1


def test_the_name_of_an_unplain_id_is_its_plain_characters_and_a_hash():
  def digest(text):
    return hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()
  assert user_strings.file_name('Xa/b') == f'Xa_b-{digest("Xa/b")[:12]}'
  assert user_strings.file_name('../x') == f'_x-{digest("../x")[:12]}'
  assert user_strings.file_name('') == f'_-{digest("")[:12]}'
  # A lone surrogate (from a file name decoded with surrogateescape) too.
  assert user_strings.file_name('a\ud800').startswith('a_-')


def test_a_paragraph_separator_is_escaped_too():
  assert user_strings.one_line('a\u2029b') == 'a\\u2029b'
