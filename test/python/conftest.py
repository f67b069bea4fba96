"""pytest setup for the tracer's tests: python/ on sys.path, and helpers to run the command line."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON_DIR = os.path.join(ROOT, "python")
DATA = os.path.join(os.path.dirname(__file__), "data")
sys.path.insert(0, PYTHON_DIR)


def run_cube(*args, cwd=None):
    """Runs `python3 -m cube ARGS` as a user would; returns the CompletedProcess (text)."""
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    return subprocess.run([sys.executable, "-m", "cube", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT)


@pytest.fixture(scope="session")
def hf_reference():
    with open(os.path.join(DATA, "hf_reference.json")) as f:
        return json.load(f)


def load_data_config(name):
    with open(os.path.join(DATA, "configs", name)) as f:
        return json.load(f)
