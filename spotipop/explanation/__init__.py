"""Explanation: integrated gradients, permutation importance, their figures."""
