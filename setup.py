"""Packaging for domaingen: the core, the shipped plugins and their entry points."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "domaingen" / "_version.py").read_text()).group(1)

core_packages = find_packages(include=["domaingen", "domaingen.*"])
plugin_packages = ["domaingen_plugins"] + [
    "domaingen_plugins." + p for p in find_packages(where="plugins")
]

setup(
    name="domaingen",
    version=VERSION,
    description="Recipe-driven synthetic data for tabular, music and other domains, built on Keras 3.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=core_packages + plugin_packages,
    package_dir={"domaingen_plugins": "plugins"},
    package_data={
        "domaingen_plugins.music": ["data/*"],
        "domaingen.scaffold": ["templates/*/*.tmpl", "templates/*/*/*.tmpl"],  # `domaingen plugin new`
    },
    install_requires=[
        "keras>=3.8",
        "tensorflow>=2.16",
        "tensorflow-probability[tf]>=0.24",
        "numpy>=1.26",
        "scikit-learn>=1.4",
        "scipy>=1.11",
        "pandas>=2.1",
        "pyarrow>=14",
        "click>=8.1",
        "pydantic>=2.6",
        "ruamel.yaml>=0.18",
        "rich>=13",
        "matplotlib>=3.8",
        # music plugin
        "librosa>=0.10",
        "soundfile>=0.12",
        "pretty_midi>=0.2.10",
        "music21>=9",
        # images plugin
        "Pillow>=10.1",
        # text plugin: byte-level BPE vocabularies
        "tokenizers>=0.23",
        # differential privacy: RDP / PLD accountants for DP-SGD and the DP copula
        "dp-accounting>=0.4",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        "jax": ["jax>=0.4.30"],
        "ray": ["ray>=2.9"],
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "sdmetrics>=0.14", "jax>=0.4.30", "ray>=2.9"],
    },
    entry_points={
        "console_scripts": ["domaingen = domaingen.cli:main"],
        "domaingen.plugins": [
            "tabular = domaingen_plugins.tabular:plugin",
            "music = domaingen_plugins.music:plugin",
            "images = domaingen_plugins.images:plugin",
            "text = domaingen_plugins.text:plugin",
        ],
        "domaingen.models": [
            "vae = domaingen.models.vae:family",
            "gan = domaingen.models.gan:family",
            "diffusion = domaingen.models.diffusion:family",
            "rnn = domaingen.models.autoregressive:rnn_family",
            "transformer = domaingen.models.autoregressive:transformer_family",
            "copula = domaingen.models.copula:family",
        ],
    },
)
