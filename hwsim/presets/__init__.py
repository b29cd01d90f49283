"""Hardware presets: one YAML per preset (package data; read through hwsim.resources)."""
