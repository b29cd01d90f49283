"""The model zoo: one YAML per model (package data, shipped as ``hwsim.zoo``; read through hwsim.resources)."""
