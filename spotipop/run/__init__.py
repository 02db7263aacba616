"""The run folder: config and records, checkpoints, locks, whole-file writes."""
