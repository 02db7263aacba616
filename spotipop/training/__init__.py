"""Training: the pmapped step and loop, preemption, curves, replicates."""
