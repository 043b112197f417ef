"""A tier imports the libraries its rows use, and nothing else.

Run in a fresh interpreter: the test process itself has imported everything long ago.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.paths import REPO

from models_server.tasks.libraries import DEFERRED_PACKAGES

# Libraries no minimal-tier row uses, and parts of the used ones the server leaves out (timm:
# controlnet_aux's other detectors; triton: GPU kernels, with the device the CPU).
NOT_FOR_MINIMAL = ("tensorflow", "keras", "speechbrain", "sentence_transformers", "sklearn", "timm", "triton")

START_MINIMAL_TIER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from models_server.config import load_settings
    from models_server.runtime import Runtime
    from models_server.engines.startup import load_tier

    settings = load_settings(None, {"tier": "minimal", "model_root": Path(sys.argv[1]),
                                    "public_dir": Path(sys.argv[2]), "device": "cpu"}, environ={})
    runtime = Runtime(settings)
    steps = load_tier(runtime)
    states = {i: v.state.value for i, v in runtime.views().items() if v.spec.in_tier("minimal")}
    imported = sorted(name for name in WATCHED if sys.modules.get(name) is not None)

    unrun = sorted(name for name in DEFERRED if "__getattr__" in vars(sys.modules.get(name, sys)))

    # what the package's own __init__ exports still resolves, on first use
    from controlnet_aux import HEDdetector

    # the deferred packages work on first use: a name taken at import time, then the paths
    # of diffusers that really use them (LMS steps integrate, beta sigmas take scipy.stats)
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment([[4, 1], [2, 8]])
    import torch
    from diffusers import DPMSolverMultistepScheduler, LMSDiscreteScheduler
    lms = LMSDiscreteScheduler()
    lms.set_timesteps(3)
    sample = torch.ones(1, 1, 2, 2)
    for t in lms.timesteps:
        sample = lms.step(torch.zeros_like(sample), t, sample).prev_sample
    beta = DPMSolverMultistepScheduler(use_beta_sigmas=True)
    beta.set_timesteps(4)
    import scipy.optimize
    print(json.dumps({"states": states, "imported": imported, "steps": steps, "unrun": unrun,
                       "timm_after_package_name": "timm" in sys.modules, "hed": HEDdetector.__name__,
                       "assignment": [rows.tolist(), cols.tolist()], "lms_finite": bool(torch.isfinite(sample).all()),
                       "beta_steps": len(beta.timesteps), "optimize_has_minimize": callable(scipy.optimize.minimize)}))
""")


def test_starting_the_minimal_tier_imports_only_its_families(tiny_root: Path, public_dir: Path) -> None:
    script = (START_MINIMAL_TIER.replace("WATCHED", repr(NOT_FOR_MINIMAL))
              .replace("DEFERRED", repr(tuple(DEFERRED_PACKAGES))))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-c", script, str(tiny_root), str(public_dir)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["states"] and set(report["states"].values()) == {"loaded"}, report["states"]
    assert report["imported"] == []
    assert {"torch_s", "models_s", "import_diffusers_s", "import_controlnet_aux_s"} <= set(report["steps"])
    assert report["timm_after_package_name"] and report["hed"] == "HEDdetector"
    assert report["unrun"] == sorted(DEFERRED_PACKAGES)  # the tier loaded without running them
    assert report["assignment"] == [[0, 1], [1, 0]]
    assert report["lms_finite"] and report["beta_steps"] == 4 and report["optimize_has_minimize"]


def test_each_early_name_is_the_object_its_package_exports() -> None:
    for package, early_names in DEFERRED_PACKAGES.items():
        exported = importlib.import_module(package)
        for name, submodule in early_names.items():
            assert getattr(importlib.import_module(submodule), name) is getattr(exported, name), (package, name)

