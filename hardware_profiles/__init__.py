"""The built-in hardware, site and market profiles: TOML data shipped as package data (bench.profiles reads them)."""
