"""Support code for the visualisation and browser tests.

- Synthetic, fully known data: a walking Human3.6M-17 skeleton in camera coordinates and its 2D projection.
- A JupyterLab server in throwaway directories for the end-to-end browser test (always stopped by the caller).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ehfusion.data.loading import Sequence
from ehfusion.skeleton import H36M_17

# ----------------------------------------------------------------------------------------------------- synthetic data
#: A standing pose, root-relative camera coordinates in metres (x right, y down, z away from the camera).
_STANDING = {
    "Hip": (0.0, 0.0, 0.0), "RHip": (-0.13, 0.0, 0.0), "RKnee": (-0.13, 0.45, 0.0), "RFoot": (-0.13, 0.88, 0.05),
    "LHip": (0.13, 0.0, 0.0), "LKnee": (0.13, 0.45, 0.0), "LFoot": (0.13, 0.88, 0.05), "Spine": (0.0, -0.23, 0.0),
    "Thorax": (0.0, -0.48, 0.0), "Neck": (0.0, -0.58, -0.04), "Head": (0.0, -0.70, 0.0),
    "LShoulder": (0.17, -0.45, 0.0), "LElbow": (0.20, -0.19, 0.0), "LWrist": (0.22, 0.05, 0.0),
    "RShoulder": (-0.17, -0.45, 0.0), "RElbow": (-0.20, -0.19, 0.0), "RWrist": (-0.22, 0.05, 0.0),
}
STANDING_POSE = np.array([_STANDING[name] for name in H36M_17.joint_names], dtype=np.float32)
FOCAL, WIDTH, HEIGHT = 1145.0, 1000, 1002


def _swing(pose: np.ndarray, joints, pivot: int, angle: float) -> None:
    """Rotate ``joints`` about the horizontal x axis through joint ``pivot`` (a leg or arm swinging forward)."""
    c, s = np.cos(angle), np.sin(angle)
    offset = pose[list(joints)] - pose[pivot]
    y, z = offset[:, 1].copy(), offset[:, 2].copy()
    offset[:, 1], offset[:, 2] = c * y - s * z, s * y + c * z
    pose[list(joints)] = pose[pivot] + offset


def walking_poses(n: int = 40, phase: float = 0.0, turn: float = 0.6) -> np.ndarray:
    """``(n, 17, 3)`` root-relative camera-coordinate poses of a walking, slowly turning person (metres)."""
    index = H36M_17.index
    poses = np.empty((n, H36M_17.num_joints, 3), dtype=np.float32)
    for t in range(n):
        pose = STANDING_POSE.copy()
        a = 0.5 * np.sin(2 * np.pi * t / 20.0 + phase)
        for side, sign in (("R", 1.0), ("L", -1.0)):
            _swing(pose, [index(f"{side}Knee"), index(f"{side}Foot")], index(f"{side}Hip"), sign * a)
            _swing(pose, [index(f"{side}Elbow"), index(f"{side}Wrist")], index(f"{side}Shoulder"), -sign * a)
        yaw = turn * t / max(n - 1, 1)
        c, s = np.cos(yaw), np.sin(yaw)
        x, z = pose[:, 0].copy(), pose[:, 2].copy()
        pose[:, 0], pose[:, 2] = c * x + s * z, -s * x + c * z
        poses[t] = pose
    return poses


def project(poses: np.ndarray, trajectory: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Pinhole projection of root-relative poses placed at ``trajectory`` -> normalised screen coordinates."""
    absolute = poses + trajectory[:, None, :]
    pixels = FOCAL * absolute[..., :2] / absolute[..., 2:3] + np.array([width / 2.0, height / 2.0])
    return (pixels / width * 2.0 - np.array([1.0, height / width])).astype(np.float32)


def make_sequence(subject="S9", action="Walking", camera=0, n=40) -> Sequence:
    phase = 0.7 * camera + (0.3 if subject == "S11" else 0.0) + (1.1 if action != "Walking" else 0.0)
    poses = walking_poses(n, phase=phase, turn=0.4 + 0.3 * camera)
    trajectory = np.stack([np.linspace(-0.5, 0.5, n), np.full(n, 0.2), np.full(n, 5.0)], axis=1).astype(np.float32)
    intrinsics = np.array([FOCAL / WIDTH * 2, FOCAL / WIDTH * 2, 0.0, 0.0, 0, 0, 0, 0, 0], dtype=np.float32)
    return Sequence(subject, action, camera, project(poses, trajectory), poses, trajectory, intrinsics, fps=50.0)


# ------------------------------------------------------------------------------------------------------ JupyterLab
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterLabServer:
    """A running JupyterLab (``process``) on ``url`` with ``token``, serving ``root``."""

    process: subprocess.Popen
    url: str
    token: str
    root: Path
    log_path: Path

    def api(self, path: str, timeout: float = 5.0):
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its kernels (the whole process group this helper started)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def lab_environment(base: Path) -> dict[str, str]:
    """Environment with throwaway Jupyter/IPython directories under ``base`` and the news pop-up switched off."""
    dirs = {name: base / name for name in ("config", "data", "runtime", "ipython", "settings", "workspaces")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # No "Would you like to receive official Jupyter news?" toast, no update checks.
    overrides = {
        "@jupyterlab/apputils-extension:notification": {
            "checkForUpdates": False, "fetchNews": "false", "doNotDisturbMode": True,
        },
    }
    (dirs["settings"] / "overrides.json").write_text(json.dumps(overrides))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"] / "user"),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONUNBUFFERED": "1",
    })
    env["_EHFUSION_OVERRIDES_DIR"] = str(dirs["settings"])
    return env


def start_jupyterlab(root: Path, base: Path, timeout: float = 90.0) -> JupyterLabServer:
    """Start JupyterLab on 127.0.0.1 (free port, random token) serving ``root``; wait until its API answers."""
    env = lab_environment(base)
    port, token = free_port(), secrets.token_hex(16)
    log_path = base / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.app_settings_dir={env['_EHFUSION_OVERRIDES_DIR']}",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = JupyterLabServer(process, f"http://127.0.0.1:{port}", token, root, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{server.log()[-3000:]}")
        try:
            server.api("/api/status", timeout=2.0)
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            if time.monotonic() > deadline:
                server.stop()
                raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log()[-3000:]}")
            time.sleep(0.5)


def wait_for_idle_kernel(server: JupyterLabServer, notebook_name: str, timeout: float = 120.0) -> dict:
    """Poll ``/api/sessions`` until the notebook's kernel exists and reports ``idle``; returns the session."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            for session in server.api("/api/sessions"):
                if session.get("path", "").endswith(notebook_name):
                    last = session
                    if session.get("kernel", {}).get("execution_state") == "idle":
                        return session
        time.sleep(0.5)
    raise TimeoutError(f"the kernel of {notebook_name} was not idle within {timeout:.0f} s (last: {last})")
