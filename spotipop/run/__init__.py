"""The run folder: config and records, checkpoints, restoring a run."""
