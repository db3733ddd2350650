"""``domaingen plugin new``: a new domain plugin distribution, rendered from templates.

The templates are plain files under ``templates/`` (``common/`` for every layout, then
``table/``, ``tokens/`` or ``grid/``): ``.tmpl`` files whose ``{{ name }}``-style
placeholders ``render`` fills in. What they produce is a complete, installable plugin
that keeps domaingen's contracts (``domaingen.testing``) unchanged; docs/tutorial-plugin.md
walks through turning one into a real domain.
"""

from .render import LAYOUTS, new_plugin, plugin_files, validate_name

__all__ = ["LAYOUTS", "new_plugin", "plugin_files", "validate_name"]
