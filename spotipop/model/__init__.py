"""The network: two towers and a fused head, its CPU kernels, its state, its predict step."""
