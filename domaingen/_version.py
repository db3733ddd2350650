"""The release of domaingen (bundles record it)."""

__version__ = "0.1.0"
