"""The vitals domain for domaingen (layout ``tokens``).

The entry point ``vitals = domaingen_vitals.plugin:plugin`` (pyproject.toml) is all
domaingen needs to find it; ``plugin.py`` is where to start reading.
"""

__version__ = "0.1.0"
