"""Amaranth generators, golden models and synthesis for nonlinear units."""
