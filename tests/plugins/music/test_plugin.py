"""The plugin object: discovery through its entry point, light import, declared contract."""

import subprocess
import sys

from domaingen import registry
from domaingen_plugins.music import MusicPlugin, plugin
from domaingen_plugins.music.options import MusicDataOptions, MusicEvaluateOptions, MusicGenerateOptions


def test_import_loads_no_heavy_library():
    code = (
        "import sys, domaingen_plugins.music as m; m.plugin.metrics(); "
        "print(','.join(k for k in ('keras', 'tensorflow', 'librosa', 'music21', 'pretty_midi', 'soundfile') "
        "if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_entry_point_gives_the_plugin():
    found = registry.get_plugin("music")
    assert isinstance(found, MusicPlugin) and found.name == "music"


def test_declared_contract():
    assert plugin.DataOptions is MusicDataOptions
    assert plugin.GenerateOptions is MusicGenerateOptions
    assert plugin.EvaluateOptions is MusicEvaluateOptions
    assert plugin.formats == ("midi", "wav")
    default = registry.get_family(plugin.default_family)
    assert registry.matching_layout(plugin, MusicDataOptions(), default) == "tokens"
