"""Catalogue data: CSV manifest, TFDS builder, input pipeline, embedded demo."""
