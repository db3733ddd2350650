import subprocess
import sys
import textwrap

import pytest

from domaingen import registry
from domaingen.errors import PluginError


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch):
    """A separately 'installed' distribution whose plugin raises at import."""
    dist = tmp_path / "domaingen_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: domaingen-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[domaingen.plugins]\nbroken = domaingen_broken_mod:plugin\n")
    (tmp_path / "domaingen_broken_mod.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield tmp_path
    registry.refresh()


def test_third_party_plugin_and_family_are_discovered():
    plugin_entry = registry.plugins()["toy"]
    assert plugin_entry.status == "ok"
    assert plugin_entry.distribution == "domaingen-toy-plugin"
    assert plugin_entry.version == "1.2.0"
    family_entry = registry.families()["toy-gauss"]
    assert family_entry.status == "ok" and family_entry.distribution == "domaingen-toy-plugin"
    assert registry.get_plugin("toy").default_family == "toy-gauss"


def test_broken_plugin_is_listed_with_its_error_and_skipped(broken_distribution):
    entries = registry.plugins()
    assert entries["broken"].status == "error"
    assert "broken on purpose" in entries["broken"].error
    assert entries["toy"].status == "ok"
    with pytest.raises(PluginError, match="failed to load: RuntimeError: this plugin is broken on purpose"):
        registry.get_plugin("broken")


def test_unknown_plugin_names_installed_ones():
    with pytest.raises(PluginError, match=r"unknown plugin 'toi'; did you mean 'toy'\? installed: .*toy"):
        registry.get_plugin("toi")


def test_cli_lists_broken_plugin_without_failing(broken_distribution):
    env_path = f"{broken_distribution}"
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {env_path!r})
        from domaingen.cli import main
        sys.exit(main(["plugins", "list", "--json"]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["broken"]["status"] == "error" and "broken on purpose" in rows["broken"]["error"]
    assert rows["toy"]["status"] == "ok" and rows["toy"]["distribution"] == "domaingen-toy-plugin"
