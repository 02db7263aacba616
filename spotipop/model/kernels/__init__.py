"""Hand-written kernels of the conv tower, each beside the plain version it replaces.

`--kernels` chooses: 'xla' runs the plain flax layers (nn.Conv, nn.GroupNorm,
nn.gelu, nn.max_pool) as XLA compiles them; 'fused' runs these kernels:

- conv.py: the 3x3 convolution with a faster first layer and kernel gradient;
- norm_gelu_pool.py: GroupNorm, GELU and 2x2 max pool as one function with
  its own gradient;
- chains.py: the audio path over chunks of the batch side by side.

'auto' uses them only on backends where `benchmarks/train_step.py` measured
the whole train step faster with them (benchmarks/README.md), XLA's
elsewhere. Each is tested against its plain version in tests/model/kernels_test.py.
"""

from absl import logging

# Backends where benchmarks/train_step.py measured the fused step faster.
MEASURED_FASTER_ON = ('cpu',)


def resolve(choice, backend):
  """'xla' or 'fused' for a --kernels choice on a JAX backend."""
  if choice == 'auto':
    return 'fused' if backend in MEASURED_FASTER_ON else 'xla'
  if choice == 'fused' and backend not in MEASURED_FASTER_ON:
    logging.warning('--kernels=fused on %s: no benchmark here has measured '
                    'them on this backend; --kernels=auto would use XLA\'s',
                    backend)
  return choice
