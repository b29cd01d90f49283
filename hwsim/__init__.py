"""hwsim: latency/energy simulator and RTL generator for Vision Transformer accelerators."""
__version__ = "0.1.0"
MODES = ("cycle", "analytic")   # estimate modes: the cycle-level engine, or the closed form
