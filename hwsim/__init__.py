"""hwsim: latency/energy simulator and RTL generator for Vision Transformer accelerators."""
__version__ = "0.1.0"
