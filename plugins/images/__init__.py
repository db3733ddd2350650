"""The images plugin: class-conditional images from a folder, a ``.npz`` or scikit-learn's digits.

``plugin`` is the entry point (``domaingen.plugins: images``). Importing this package loads
no imaging or deep-learning library; Pillow and Keras are imported when first needed.
"""

from .plugin import ImagesPlugin
from .records import ImageSet

__all__ = ["ImagesPlugin", "ImageSet", "plugin"]

plugin = ImagesPlugin()
