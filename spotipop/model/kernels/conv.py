"""A 'SAME' 3x3 convolution for XLA:CPU, with the plain version it replaces.

`conv_3x3` gives the values and gradients of `xla_conv_3x3`
(lax.conv_general_dilated), faster on CPU in two places measured by
benchmarks/conv_grads.py and benchmarks/train_step.py (figures in
benchmarks/README.md):

- a layer with one input channel (the spectrogram) is nine shifted
  multiply-adds: XLA:CPU runs that convolution on one thread;
- the kernel gradient of a large layer is a loop of matmuls over cache-sized
  patch matrices (`kernel_grad_3x3`): XLA:CPU computes it as a convolution
  whose window is the whole image.
"""

import jax
import jax.numpy as jnp

NHWC = ('NHWC', 'HWIO', 'NHWC')
# Output positions per step of the kernel gradient's loop: the step's patch
# matrix (9 * channels x 4096 floats) stays in cache.
KERNEL_GRAD_CHUNK = 4096
# Below this size of input plus output gradient, XLA's own kernel gradient is
# the faster (benchmarks/conv_grads.py at 4 and 32 clips of the default
# settings). Chains of 4 default clips stay under it; the paper's 30 s clips
# do not.
KERNEL_GRAD_LOOP_MIN_BYTES = 5 * 2**20


def xla_conv_3x3(x, kernel):
  """The plain version: XLA's convolution, gradients included."""
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                      dimension_numbers=NHWC)


@jax.custom_vjp
def conv_3x3(x, kernel):
  """xla_conv_3x3's values and gradients, faster on XLA:CPU."""
  if x.shape[-1] == 1:
    return _single_channel_conv_3x3(x, kernel)
  return xla_conv_3x3(x, kernel)


def _single_channel_conv_3x3(x, kernel):
  """A one-channel input's convolution as nine shifted multiply-adds."""
  _, h, w, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = sum(padded[:, i:i + h, j:j + w] * kernel[i, j, 0]
          for i in range(3) for j in range(3))
  # Written out once: otherwise XLA recomputes it inside every consumer.
  return jax.lax.optimization_barrier(y)


def _conv_3x3_forward(x, kernel):
  return conv_3x3(x, kernel), (x, kernel)


def _conv_3x3_backward(saved, dy):
  x, kernel = saved
  if (x.size + dy.size) * x.dtype.itemsize < KERNEL_GRAD_LOOP_MIN_BYTES:
    return jax.vjp(xla_conv_3x3, x, kernel)[1](dy)
  _, input_grad = jax.vjp(lambda x: xla_conv_3x3(x, kernel), x)
  return input_grad(dy)[0], kernel_grad_3x3(x, dy).astype(kernel.dtype)


conv_3x3.defvjp(_conv_3x3_forward, _conv_3x3_backward)


def kernel_grad_3x3(x, dy):
  """d(loss)/d(kernel) [3, 3, c, o] of a 'SAME' 3x3 convolution, as matmuls
  of patches built in cache a chunk of positions at a time.

  x is made channel-major and flattened over (b, h, w), so tap (i, j) of
  position n reads x at n + (i - 1) * w + (j - 1); the taps that would cross
  an image edge are masked to the zero padding. dy is read in place, and each
  step multiplies a [9 * c, chunk] patch matrix by a [chunk, o] slice of it.
  """
  b, h, w, c = x.shape
  positions = b * h * w
  chunk = min(KERNEL_GRAD_CHUNK, positions)
  x_flat = jnp.pad(jnp.moveaxis(x, -1, 0).reshape(c, positions),
                   ((0, 0), (w + 1, w + 1)))
  dy_flat = dy.reshape(positions, -1)

  def accumulate(step, total):
    # The last step ends at the last position; what earlier steps summed
    # is masked out of it.
    start = jnp.minimum(step * chunk, positions - chunk)
    n = start + jnp.arange(chunk)
    row, column = n // w % h, n % w
    window = jax.lax.dynamic_slice_in_dim(x_flat, start, chunk + 2 * w + 2,
                                          axis=1)
    patches = []
    for i in range(3):
      for j in range(3):
        inside = ((n >= step * chunk) & (row + i - 1 >= 0) & (row + i - 1 < h)
                  & (column + j - 1 >= 0) & (column + j - 1 < w))
        tap = window[:, i * w + j:i * w + j + chunk]
        patches.append(jnp.where(inside, tap, jnp.zeros_like(tap)))
    return total + jnp.matmul(
        jnp.concatenate(patches),
        jax.lax.dynamic_slice_in_dim(dy_flat, start, chunk),
        preferred_element_type=jnp.float32)

  total = jax.lax.fori_loop(
      0, -(-positions // chunk), accumulate,
      jnp.zeros((9 * c, dy.shape[-1]), jnp.float32))
  return total.reshape(3, 3, c, -1)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                         rhs_dilation, dimension_numbers, feature_group_count,
                         precision):
  """conv_3x3 in the signature nn.Conv calls (its conv_general_dilated)."""
  del padding, lhs_dilation, rhs_dilation, precision  # 'SAME', 1, 1, default.
  assert rhs.shape[:2] == (3, 3) and tuple(window_strides) == (1, 1)
  assert feature_group_count == 1
  assert dimension_numbers == jax.lax.conv_dimension_numbers(
      lhs.shape, rhs.shape, NHWC)
  return conv_3x3(lhs, rhs)
