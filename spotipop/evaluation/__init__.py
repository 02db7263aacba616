"""Evaluation: metrics, baselines, bootstrap intervals, the report of a run."""
