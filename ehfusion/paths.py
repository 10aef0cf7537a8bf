"""Where the project keeps data, checkpoints and generated outputs (each overridable by an environment variable)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else default


DATA_DIR = _dir("EHFUSION_DATA_DIR", REPO_DIR / "data")
CHECKPOINT_DIR = _dir("EHFUSION_CHECKPOINT_DIR", REPO_DIR / "checkpoints")
OUTPUT_DIR = _dir("EHFUSION_OUTPUT_DIR", REPO_DIR / "outputs")
#: Derived files that cannot go beside their source (a read-only data folder): $XDG_CACHE_HOME/ehfusion by default.
CACHE_DIR = _dir("EHFUSION_CACHE_DIR", Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ehfusion")
