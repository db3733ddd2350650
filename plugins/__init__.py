"""Domain plugins shipped with domaingen, installed as ``domaingen_plugins.<name>``."""
