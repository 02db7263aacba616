"""Prediction: scoring new tracks with a trained run."""
