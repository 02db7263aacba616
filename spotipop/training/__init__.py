"""Training: the pmapped step and loop, its state, preemption, curves, replicates."""
