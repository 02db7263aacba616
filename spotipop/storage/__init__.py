"""Storage: files replaced whole or not at all, and locks on folders."""
