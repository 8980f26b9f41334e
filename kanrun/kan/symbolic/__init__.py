"""Symbolic functions, fitting and formula export."""
