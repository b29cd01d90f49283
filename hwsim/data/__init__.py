"""Cost tables the backends read (package data; read through hwsim.resources)."""
