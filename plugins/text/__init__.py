"""The text plugin: educational passages and question-answer items in the style of a corpus.

``plugin`` is the entry point (``domaingen.plugins: text``). Importing this package loads
no tokenizer or deep-learning library; they are imported when first needed.
"""

from .plugin import TextPlugin
from .records import TextRecord

__all__ = ["TextPlugin", "TextRecord", "plugin"]

plugin = TextPlugin()
