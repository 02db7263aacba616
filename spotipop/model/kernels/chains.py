"""The audio path over chunks of the batch, side by side, for XLA:CPU.

XLA:CPU runs many of the conv tower's operations (its convolutions among
them) on one thread. Independent chains, each over a chunk of the batch, let
it run them on every core at once and keep each chain's activations small
enough to stay in cache. Measured in benchmarks/README.md (the train step
before and after); tests/model/kernels_test.py checks that chains give one chain's
logits and gradients.
"""

import jax.numpy as jnp

# A chain's chunk holds clips whose first conv layer's output is at most this
# many bytes (4 clips at the default settings; chunks of 2 and 4 clips
# trained as fast, 8 slower), and there are at most this many chains (each
# is a copy of the path in the compiled step).
CHAIN_BYTES = 4 * 2**20
MAX_CHAINS = 8


def count(batch_size, first_layer_bytes_per_clip):
  """How many chunks a batch is split into."""
  clips = max(1, CHAIN_BYTES // first_layer_bytes_per_clip)
  return min(MAX_CHAINS, -(-batch_size // clips))


def run(fn, batch, first_layer_bytes_per_clip):
  """fn over chunks of batch (its first axis), concatenated in order."""
  chunks = jnp.array_split(
      batch, count(batch.shape[0], first_layer_bytes_per_clip))
  return jnp.concatenate([fn(chunk) for chunk in chunks])
