"""Continuum."""
