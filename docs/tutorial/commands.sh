#!/usr/bin/env bash
# The shell steps of docs/tutorial-plugin.md, in order. tests/core/test_scaffold.py runs
# these very lines in a temporary folder (pip told to stay offline: --no-build-isolation
# --no-deps), so the tutorial's commands cannot go stale.
set -euo pipefail

# --8<-- [start:new]
domaingen plugin new vitals --layout tokens
# --8<-- [end:new]

# --8<-- [start:install]
pip install -e domaingen-vitals
domaingen plugins list
# --8<-- [end:install]

# --8<-- [start:check]
python -m pytest -q domaingen-vitals/tests
domaingen run domaingen-vitals/recipes/demo.yaml --out runs/vitals-demo
# --8<-- [end:check]
