"""The single-process server never imports Ray, and the Ray engine's planning needs none."""

from __future__ import annotations

import subprocess
import sys

from support.paths import REPO

ROOT = REPO

SINGLE_PROCESS = """
import sys
from pathlib import Path
from models_server.http.app import create_app
from models_server.cli import build_parser
from models_server.config import load_settings
from models_server.runtime import Runtime
from models_server.engines.local import serving_options
settings = load_settings(Path("configs/tiny.yaml"), {"port": 0})
app = create_app(settings, Runtime(settings))
serving_options(settings)
assert app.test_client().get("/status").status_code == 200
build_parser().parse_args(["serve", "--config", "configs/tiny.yaml"])
print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
"""


def test_the_single_process_server_does_not_import_ray() -> None:
    done = subprocess.run([sys.executable, "-c", SINGLE_PROCESS], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_planning_groups_imports_no_ray() -> None:
    code = ("import sys; from models_server.engines.ray import grouping, cluster, worker; "
            "print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
