"""The XLA flags the tests compile under: conftest.py sets them for the
session and the processes it starts, and benchmarks/xla_flags.py measures
them against XLA's defaults.

The tests' models are small, so compiling them, not running them, takes most
of the suite's time. These flags compile the train step 3-5x as fast as XLA's
defaults, and its loss and gradients agree with the defaults' to float32
rounding (benchmarks/README.md, "The tests' XLA flags"):
- LLVM's optimisation level 0 (higher levels contract multiply-adds, which
  moves the last bits);
- XLA's elemental emitters instead of its newer fusion emitters;
- one LLVM module per computation, as the 2-core machine has no cores to spare
  for compiling them in parallel.
"""

TEST_XLA_FLAGS = ('--xla_backend_optimization_level=0'
                  ' --xla_cpu_use_fusion_emitters=false'
                  ' --xla_cpu_parallel_codegen_split_count=1')
