"""Requests to a catalogue's server: retried when the server asks for it, and
downloads that are whole files or nothing.

A server that answers 429 (too many requests), a 5xx status, a dropped
connection or a truncated body is asked again after a wait that doubles each
time (or the wait its Retry-After header names); anything else is a
FetchError at once. A download is written to PATH.part and renamed to PATH
only once its bytes match the announced length, so a PATH that exists is
complete, whatever interrupted an earlier run.
"""

import dataclasses
import hashlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request

from absl import logging

from spotipop import errors
from spotipop.storage import atomic_files

TIMEOUT_SECONDS = 60
_CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Retry:
  attempts: int = 6  # Tries in all, the first included.
  first_wait: float = 2.0  # Seconds before the second try; doubles after.
  longest_wait: float = 120.0


class TryAgain(Exception):
  """A failure the server may not repeat: worth another try after a wait."""

  def __init__(self, reason, wait=None):
    super().__init__(reason)
    self.wait = wait  # Seconds the server asked for, or None.


@dataclasses.dataclass(frozen=True)
class Downloaded:
  size: int  # Bytes.
  sha256: str  # Hex digest.


def _retried(attempt, what, retry, sleep):
  """attempt() until it returns, waiting between TryAgain failures."""
  for tries in range(1, retry.attempts + 1):
    try:
      return attempt()
    except TryAgain as e:
      if tries == retry.attempts:
        raise errors.FetchError(f'{what}: {e} (tried {tries} times)') from None
      wait = min(e.wait if e.wait is not None
                 else retry.first_wait * 2 ** (tries - 1), retry.longest_wait)
      logging.warning('%s: %s; trying again in %.1f s (try %d of %d)', what,
                      e, wait, tries + 1, retry.attempts)
      sleep(wait)


def _retry_after(headers):
  try:
    return max(0.0, float(headers.get('Retry-After')))
  except (TypeError, ValueError):
    return None


def _opened(url, what):
  """The response to GET url; TryAgain for what may pass, FetchError else."""
  try:
    return urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS)
  except urllib.error.HTTPError as e:
    if e.code == 429 or 500 <= e.code < 600:
      raise TryAgain(f'HTTP {e.code} {e.reason}',
                     _retry_after(e.headers)) from None
    raise errors.FetchError(f'{what}: HTTP {e.code} {e.reason}') from None
  except (urllib.error.URLError, OSError) as e:
    reason = getattr(e, 'reason', e)
    raise TryAgain(f'no answer ({reason})') from None


def get_json(url, what, retry=Retry(), check=None, sleep=time.sleep):
  """The JSON document at url. check(document) may raise TryAgain (a server
  that reports overload inside a 200 answer) or FetchError."""
  def attempt():
    try:
      with _opened(url, what) as response:
        body = response.read()
    except (http.client.HTTPException, OSError) as e:
      raise TryAgain(f'answer cut short ({e!r})') from None
    try:
      document = json.loads(body)
    except ValueError:
      raise errors.FetchError(f'{what}: the answer is not JSON: '
                              f'{body[:80]!r}') from None
    if check is not None:
      check(document)
    return document
  return _retried(attempt, what, retry, sleep)


def file_digest(path):
  """Downloaded(size, sha256) of a file on disk."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    while chunk := f.read(_CHUNK):
      digest.update(chunk)
  return Downloaded(os.path.getsize(path), digest.hexdigest())


def download(url, path, what, retry=Retry(), sleep=time.sleep):
  """Fetches url into path, whole or not at all; Downloaded of its bytes.

  A full disk is an OSError naming path.part (errors.first_disk_full reports
  it); path.part never outlives a failed call.
  """
  partial = f'{path}.part'
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)

  def attempt():
    digest, size = hashlib.sha256(), 0
    with _opened(url, what) as response:
      announced = response.headers.get('Content-Length')
      with atomic_files.naming(partial), open(partial, 'wb') as f:
        try:
          while chunk := response.read(_CHUNK):
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        except (http.client.HTTPException, ConnectionError,
                socket.timeout) as e:
          raise TryAgain(f'download cut short after {size} bytes '
                         f'({type(e).__name__})') from None
    if announced is not None and size != int(announced):
      raise TryAgain(f'truncated download: {size} of {announced} bytes')
    os.replace(partial, path)
    return Downloaded(size, digest.hexdigest())

  try:
    return _retried(attempt, what, retry, sleep)
  finally:
    if os.path.exists(partial):
      os.remove(partial)
