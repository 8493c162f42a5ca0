"""The benchmark harness and CLI: discovery, timing, energy, profiles, economics and reports."""

__version__ = "0.1.0"
