"""A tier imports the library families its rows use, and nothing else.

Run in a fresh interpreter: the test process itself has imported everything long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Families no minimal-tier row uses, and parts of the used ones the server leaves out (timm:
# controlnet_aux's other detectors; triton: GPU kernels, with the device the CPU).
NOT_FOR_MINIMAL = ("tensorflow", "keras", "speechbrain", "sentence_transformers", "sklearn", "timm", "triton")

START_MINIMAL_TIER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from models_server.config import load_settings
    from models_server.runtime import Runtime
    from models_server.startup import load_tier

    settings = load_settings(None, {"tier": "minimal", "model_root": Path(sys.argv[1]),
                                    "public_dir": Path(sys.argv[2]), "device": "cpu"}, environ={})
    runtime = Runtime(settings)
    steps = load_tier(runtime)
    states = {i: v.state.value for i, v in runtime.views().items() if v.spec.in_tier("minimal")}
    imported = sorted(name for name in WATCHED if sys.modules.get(name) is not None)

    # what the package's own __init__ exports still resolves, on first use
    from controlnet_aux import HEDdetector
    print(json.dumps({"states": states, "imported": imported, "steps": steps,
                       "timm_after_package_name": "timm" in sys.modules, "hed": HEDdetector.__name__}))
""")


def test_starting_the_minimal_tier_imports_only_its_families(tiny_root: Path, public_dir: Path) -> None:
    script = START_MINIMAL_TIER.replace("WATCHED", repr(NOT_FOR_MINIMAL))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-c", script, str(tiny_root), str(public_dir)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["states"] and set(report["states"].values()) == {"loaded"}, report["states"]
    assert report["imported"] == []
    assert {"torch_s", "models_s", "import_diffusers_s", "import_controlnet_aux_s"} <= set(report["steps"])
    assert report["timm_after_package_name"] and report["hed"] == "HEDdetector"
