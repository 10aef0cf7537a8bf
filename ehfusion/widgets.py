"""The interactive pose explorer: pick a sequence and a checkpoint, scrub frames, rotate, add noise, read the errors.

:class:`PoseExplorer` is a small ipywidgets application. It predicts a whole sequence once per
(sequence, checkpoint, branch, noise) setting, caches the result, and afterwards only indexes frames, so scrubbing and
rotating stay well under a second on a CPU. Each frame is drawn by :class:`ehfusion.visualisation.PoseFramePanel` into
PNG bytes shown by an ``ipywidgets.Image``.

Everything an observer computes is readable state (``frame``, ``current_errors``, ``current_p1``, ``image_bytes``,
``prediction_calls``...), so the explorer can be tested without a browser. Without a widget frontend (papermill, CI,
a static HTML export) displaying the explorer still shows a PNG of the current frame, and :meth:`static_summary`
draws the whole sequence's errors.

    >>> explorer = PoseExplorer("embedded", split="test", checkpoint="gt_one-stage_best_epoch.bin")  # doctest: +SKIP
    >>> explorer                                 # in JupyterLab: the widget; elsewhere: a PNG of the frame
"""
from __future__ import annotations

import base64
import contextlib
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence as SequenceType

import numpy as np

from .skeleton import get_skeleton
from .visualisation import (
    DEFAULT_AZIMUTH,
    DEFAULT_ELEVATION,
    PoseFramePanel,
    animate_sequence,
    frame_title,
    joint_errors_mm,
    save_animation,
)

__all__ = ["PoseExplorer", "NO_CHECKPOINT", "split_subjects", "add_pixel_noise", "best_checkpoint"]

#: The checkpoint choice that shows the ground truth only.
NO_CHECKPOINT = "none"
#: Human3.6M protocol (also used by the embedded dataset): train on S1, S5, S6, S7, S8, test on S9, S11.
H36M_SPLITS = {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")}
#: HumanEva-I subjects are named "Train/S1", "Validate/S1"... in the VideoPose3D files.
HUMANEVA_PREFIXES = {"train": "Train/", "test": "Validate/"}
DEFAULT_IMAGE_SIZE = (1000.0, 1000.0)


# --------------------------------------------------------------------------------------------------------- helpers
def split_subjects(dataset, split: str) -> list[str]:
    """The subjects of ``dataset`` that belong to ``split`` (``"train"`` or ``"test"``), in the dataset's order."""
    if split not in H36M_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    subjects = list(dataset.subjects)
    if hasattr(dataset, "split_subjects"):  # a PoseDataset knows its protocol
        members = set(dataset.split_subjects(split))
        return [s for s in subjects if s in members]
    prefixed = [s for s in subjects if s.startswith(HUMANEVA_PREFIXES[split])]
    if prefixed:
        return prefixed
    return [s for s in subjects if s in H36M_SPLITS[split]]


def add_pixel_noise(keypoints: np.ndarray, sigma_px: float, image_width: float, seed: int) -> np.ndarray:
    """Add isotropic Gaussian noise of ``sigma_px`` pixels to normalised keypoints (deterministic for a seed)."""
    if sigma_px < 0:
        raise ValueError(f"noise must be >= 0 pixels, got {sigma_px}")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if sigma_px == 0:
        return keypoints
    rng = np.random.default_rng(seed)
    sigma_normalised = sigma_px * 2.0 / image_width  # normalisation maps [0, w] pixels to [-1, 1]
    return (keypoints + rng.normal(0.0, sigma_normalised, keypoints.shape)).astype(np.float32)


def _image_size(camera) -> tuple[float, float]:
    """(width, height) in pixels of a camera object, whatever it calls them; 1000 x 1000 when unknown."""
    for width_name, height_name in (("res_w", "res_h"), ("width", "height"), ("image_width", "image_height")):
        width, height = getattr(camera, width_name, None), getattr(camera, height_name, None)
        if width and height:
            return float(width), float(height)
    return DEFAULT_IMAGE_SIZE


def _checkpoint_names(listing) -> list[str]:
    """Names from ``list_checkpoints()``: accepts names, (name, description) pairs, a dict, or objects with ``.name``."""
    if isinstance(listing, Mapping):
        return [str(name) for name in listing]
    names = []
    for entry in listing:
        if isinstance(entry, (str, Path)):
            names.append(Path(entry).name if isinstance(entry, Path) else entry)
        elif isinstance(entry, (tuple, list)) and entry:
            names.append(str(entry[0]))
        elif hasattr(entry, "name"):
            names.append(str(entry.name))
        else:
            raise TypeError(f"cannot read a checkpoint name from {entry!r}")
    return names


def _validation_p1(meta: Mapping) -> float | None:
    """The validation P1 (mm) of a checkpoint's answer branch, as stored in its metadata, or ``None``."""
    metrics = meta.get("metrics") or {}
    branches = list((meta.get("model_config") or {}).get("branches") or [])
    answer = "fused" if "fused" in branches else (branches[0] if branches else None)
    value = metrics.get(f"val_p1_{answer}") if answer else None
    if value is None:
        values = [v for k, v in metrics.items() if k.startswith("val_p1_") and v is not None]
        value = min(values) if values else None
    return None if value is None else float(value)


def best_checkpoint(names, keypoints: str | None = None, directory: str | Path | None = None) -> str | None:
    """The most accurate of the checkpoint files ``names``: the lowest validation P1 of its answer branch.

    Only checkpoints trained on ``keypoints`` (``"gt"``, ``"det"``...) compete when any of them is; errors measured on
    different 2D inputs are not comparable. The validation subject is held out from training, so this choice never
    looks at the test subjects. Returns ``None`` when no file stores a validation error.
    """
    from .checkpoints import load_checkpoint

    scored = []
    for name in _checkpoint_names(names):
        try:
            meta = load_checkpoint(name, directories=None if directory is None else [Path(directory)],
                                   build=False).meta
        except (OSError, ValueError, KeyError):
            continue
        p1 = _validation_p1(meta)
        if p1 is not None:
            scored.append((keypoints is not None and meta.get("keypoints") != keypoints, p1, name))
    return min(scored)[2] if scored else None


def _stable_seed(*parts) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


class _LRUCache(OrderedDict):
    """A small least-recently-used cache (the explorer keeps predictions and loaded checkpoints in two of these)."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity

    def get_or_compute(self, key, compute: Callable[[], Any]):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = compute()
        self[key] = value
        while len(self) > self.capacity:
            self.popitem(last=False)
        return value


# --------------------------------------------------------------------------------------------------------- explorer
class PoseExplorer:
    """Browse sequences, checkpoints and frames: the 2D input, the 3D ground truth, the prediction and its errors.

    Parameters
    ----------
    dataset:
        A dataset name for :func:`ehfusion.data.load_dataset` (``"embedded"``, ``"h36m"``...) or a loaded dataset.
    keypoints:
        Which 2D keypoints to load when ``dataset`` is a name (``"gt"`` or ``"det"``).
    split, subject, action, camera:
        The initial selection (defaults: the test split, its first subject, action and camera).
    checkpoint:
        The initial checkpoint name, or ``"none"`` for the ground truth only (default: the most accurate checkpoint
        file for the dataset's keypoints, by the validation error it stores: :func:`best_checkpoint`).
    checkpoints:
        Which checkpoints to offer: ``None`` = every file in ``CHECKPOINT_DIR`` (:func:`ehfusion.checkpoints.
        list_checkpoints`); a list of names / paths; or a mapping name -> already loaded checkpoint (an object with
        ``.model`` and ``.config``).
    checkpoint_dir:
        Look for checkpoint files in this folder instead of ``CHECKPOINT_DIR``.
    max_frames:
        Keep only the first ``max_frames`` frames of each sequence (quick demos, CI).
    flip_tta:
        Average with the horizontally flipped prediction (the evaluation protocol).
    noise_seed:
        Seed of the added 2D noise (each sequence and noise level gets its own deterministic draw).
    predict_fn, checkpoint_loader:
        Replace the predictor (called like :func:`ehfusion.evaluation.predict_sequence`; by default
        :func:`ehfusion.evaluation.predict_branches` runs once and every branch is cached) or
        :func:`ehfusion.checkpoints.load_checkpoint`.
    """

    def __init__(self, dataset: Any = "embedded", *, keypoints: str = "gt", split: str = "test",
                 subject: str | None = None, action: str | None = None, camera: int = 0,
                 checkpoint: str | None = None, checkpoints: Mapping[str, Any] | SequenceType | None = None,
                 checkpoint_dir: str | Path | None = None,
                 max_frames: int | None = None, flip_tta: bool = True, noise_seed: int = 0,
                 max_error_mm: float = 150.0, max_noise_px: float = 20.0, dpi: int = 80,
                 predict_fn: Callable | None = None, checkpoint_loader: Callable | None = None,
                 cache_size: int = 32):
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1 (or None for whole sequences), got {max_frames}")
        if split not in H36M_SPLITS:
            raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
        self.dataset = self._load_dataset(dataset, keypoints)
        self.skeleton = get_skeleton(self.dataset.skeleton)
        self.max_frames = max_frames
        self.flip_tta = flip_tta
        self.noise_seed = noise_seed
        self._predict_fn = predict_fn
        self._checkpoint_loader = checkpoint_loader
        self._checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._checkpoints, checkpoint_names = self._checkpoint_catalogue(checkpoints)
        self._models = _LRUCache(4)
        self._predictions = _LRUCache(cache_size)
        self._noisy_inputs = _LRUCache(cache_size)
        self.prediction_calls = 0   # how many times the model ran on a whole sequence (cache misses)
        self.render_count = 0
        self._suspended = False

        # ------------------------------------------------------------------ state (read by tests and observers)
        self.sequence = None        # the selected Sequence (trimmed to max_frames)
        self.keypoints_2d = None    # (N, J, 2) model input: the sequence's keypoints plus the added noise
        self.prediction = None      # (N, J, 3) metres or None
        self.current_errors = None  # (J,) mm for the shown frame, or None
        self.current_p1 = None      # mean of current_errors (P1 / MPJPE of this frame, mm), or None
        self.image_size = DEFAULT_IMAGE_SIZE
        self.message = ""           # shown under the figure: what the last prediction cost

        if checkpoint is None:
            checkpoint = self._default_checkpoint(checkpoint_names)
        if checkpoint != NO_CHECKPOINT and checkpoint not in checkpoint_names:
            raise ValueError(f"unknown checkpoint {checkpoint!r}; available: {', '.join(checkpoint_names) or 'none'}"
                             f" (files live in ehfusion.paths.CHECKPOINT_DIR, or pass checkpoint_dir=...)")
        self._build_widgets(split, checkpoint, checkpoint_names, max_noise_px)
        self.panel = PoseFramePanel(self.skeleton, max_error_mm=max_error_mm, dpi=dpi, figsize=(12.5, 3.6))

        # ------------------------------------------------------------------ initial selection, then observers
        with self._suspend():
            self._refresh_subjects(subject)
            self._refresh_actions(action)
            self._refresh_cameras(camera)
            self._refresh_branches()
        self._load_sequence()
        self._update_prediction()
        self._render()
        self.status.value = self.message

        for control in (self.split_dropdown, self.subject_dropdown, self.action_dropdown, self.camera_dropdown):
            control.observe(self._on_sequence_change, names="value")
        self.checkpoint_dropdown.observe(self._on_checkpoint_change, names="value")
        self.branch_buttons.observe(self._on_prediction_change, names="value")
        self.noise_slider.observe(self._on_prediction_change, names="value")
        self.frame_slider.observe(self._on_frame_change, names="value")
        self.azimuth_slider.observe(self._on_view_change, names="value")
        self.elevation_slider.observe(self._on_view_change, names="value")

    def _build_widgets(self, split: str, checkpoint: str, checkpoint_names: list[str], max_noise_px: float) -> None:
        """Create the controls, the image and the layout (option lists are filled by the ``_refresh_*`` methods).

        Four short rows of controls above the picture and one status line below it, at most 1000 px wide, so the
        explorer fits a 1280 x 800 screen beside JupyterLab's side bar.
        """
        import ipywidgets as widgets

        style = {"description_width": "62px"}

        def box(width):
            return widgets.Layout(width=width)

        self.split_dropdown = widgets.Dropdown(options=[("test subjects", "test"), ("training subjects", "train")],
                                               value=split, description="split", layout=box("230px"), style=style)
        self.subject_dropdown = widgets.Dropdown(description="subject", layout=box("150px"), style=style)
        self.action_dropdown = widgets.Dropdown(description="action", layout=box("230px"), style=style)
        self.camera_dropdown = widgets.Dropdown(description="camera", layout=box("170px"), style=style)
        ckpt_options = [("none (recorded motion only)", NO_CHECKPOINT)] + [(n, n) for n in checkpoint_names]
        self.checkpoint_dropdown = widgets.Dropdown(options=ckpt_options, value=checkpoint, description="model",
                                                    layout=box("420px"), style=style)
        self.branch_buttons = widgets.ToggleButtons(options=["(answer)"], style={"button_width": "80px"})
        self.branch_box = widgets.HBox([widgets.Label("branch", layout=widgets.Layout(margin="0 8px")),
                                        self.branch_buttons])
        self.noise_slider = widgets.FloatSlider(value=0.0, min=0.0, max=max_noise_px, step=0.5,
                                                description="noise (px)", continuous_update=False,
                                                layout=box("300px"), style=style)
        self.frame_slider = widgets.IntSlider(value=0, min=0, max=0, description="frame", continuous_update=True,
                                              readout=False, layout=box("520px"), style=style)
        self.play = widgets.Play(value=0, min=0, max=0, step=1, interval=150, description="play")
        self._play_link = widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.azimuth_slider = widgets.FloatSlider(value=DEFAULT_AZIMUTH, min=-180.0, max=180.0, step=5.0,
                                                  description="azimuth", layout=box("300px"), style=style)
        self.elevation_slider = widgets.FloatSlider(value=DEFAULT_ELEVATION, min=-90.0, max=90.0, step=5.0,
                                                    description="elevation", layout=box("300px"), style=style)
        self.frame_label = widgets.HTML(value="")
        self.split_note = widgets.HTML(value="")
        self.status = widgets.HTML(value="")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.image.add_class("ehfusion-explorer-image")
        self.frame_label.add_class("ehfusion-explorer-frame")
        self.frame_slider.add_class("ehfusion-explorer-slider")

        self.widget = widgets.VBox([
            widgets.HBox([self.split_dropdown, self.subject_dropdown, self.action_dropdown, self.camera_dropdown]),
            widgets.HBox([self.checkpoint_dropdown, self.branch_box]),
            widgets.HBox([self.play, self.frame_slider, self.frame_label]),
            widgets.HBox([self.azimuth_slider, self.elevation_slider, self.noise_slider]),
            self.split_note,
            self.image,
            self.status,
        ], layout=widgets.Layout(max_width="1000px"))

    # ================================================================== public state
    @property
    def frame(self) -> int:
        return int(self.frame_slider.value)

    @property
    def num_frames(self) -> int:
        return 0 if self.keypoints_2d is None else len(self.keypoints_2d)

    @property
    def split(self) -> str:
        return self.split_dropdown.value

    @property
    def subject(self) -> str:
        return self.subject_dropdown.value

    @property
    def action(self) -> str:
        return self.action_dropdown.value

    @property
    def camera(self) -> int:
        return int(self.camera_dropdown.value)

    @property
    def checkpoint(self) -> str:
        return self.checkpoint_dropdown.value

    @property
    def branch(self) -> str | None:
        """The selected output branch, or ``None`` for the model's answer (and when there is no checkpoint)."""
        value = self.branch_buttons.value
        return None if value == "(answer)" else value

    @property
    def noise_px(self) -> float:
        return float(self.noise_slider.value)

    @property
    def image_bytes(self) -> bytes:
        """The PNG shown by the image widget."""
        return bytes(self.image.value)

    @property
    def ground_truth(self) -> np.ndarray | None:
        return None if self.sequence is None else self.sequence.poses_3d

    def sequence_errors(self, branch: str | None = None, noise_px: float | None = None) -> np.ndarray | None:
        """Per-frame, per-joint errors (N, J) in mm of the shown prediction, or of another ``branch`` / ``noise_px``
        (computed without changing the controls); ``None`` without a prediction or a 3D ground truth."""
        if self.ground_truth is None:
            return None
        prediction = self.prediction if branch is None and noise_px is None else self.predict(branch, noise_px)
        return None if prediction is None else joint_errors_mm(prediction, self.ground_truth)

    # ================================================================== loading
    @staticmethod
    def _load_dataset(dataset, keypoints: str):
        if isinstance(dataset, str):
            from .data import load_dataset

            return load_dataset(dataset, keypoints=keypoints)
        for attribute in ("skeleton", "subjects", "actions", "cameras", "sequences"):
            if not hasattr(dataset, attribute):
                raise TypeError(f"dataset must be a name for load_dataset or a PoseDataset; "
                                f"{type(dataset).__name__} has no {attribute!r}")
        return dataset

    def _default_checkpoint(self, names: list[str]) -> str:
        """The most accurate checkpoint file for this dataset's keypoints; the first name when files cannot tell."""
        if not names:
            return NO_CHECKPOINT
        if self._checkpoints or self._checkpoint_loader is not None:
            return names[0]                  # preloaded models or a custom loader: no stored errors to compare
        return best_checkpoint(names, getattr(self.dataset, "keypoints", None), self._checkpoint_dir) or names[0]

    def _checkpoint_catalogue(self, checkpoints):
        """(preloaded checkpoints by name, names to offer)."""
        if checkpoints is None:
            from .checkpoints import list_checkpoints

            return {}, _checkpoint_names(list_checkpoints(self._checkpoint_dir))
        if isinstance(checkpoints, Mapping):
            return dict(checkpoints), [str(name) for name in checkpoints]
        return {}, _checkpoint_names(checkpoints)

    def _model_for(self, name: str):
        """The loaded checkpoint called ``name`` (loaded once, then cached)."""
        def load():
            if name in self._checkpoints:
                return self._checkpoints[name]
            if self._checkpoint_loader is not None:
                return self._checkpoint_loader(name)
            from .checkpoints import load_checkpoint

            directories = None if self._checkpoint_dir is None else [self._checkpoint_dir]
            return load_checkpoint(name, directories=directories)

        return self._models.get_or_compute(name, load)

    def _sequence_key(self) -> tuple:
        return (self.split, self.subject, self.action, self.camera, self.max_frames)

    def _load_sequence(self) -> None:
        if hasattr(self.dataset, "sequence"):
            sequence = self.dataset.sequence(self.subject, self.action, self.camera)
        else:  # match the action exactly ('walk' must not also pick 'walk 1')
            found = [s for s in self.dataset.sequences(subjects=[self.subject], actions=[self.action],
                                                       cameras=[self.camera])
                     if s.action == self.action and int(s.camera) == self.camera]
            if not found:
                raise KeyError(f"no sequence for subject {self.subject}, action {self.action}, camera {self.camera}")
            sequence = found[0]
        if self.max_frames is not None and len(sequence.keypoints_2d) > self.max_frames:
            sequence = _trim(sequence, self.max_frames)
        self.sequence = sequence
        cameras = self.dataset.cameras.get(self.subject, []) if hasattr(self.dataset.cameras, "get") else []
        self.image_size = _image_size(cameras[self.camera]) if self.camera < len(cameras) else DEFAULT_IMAGE_SIZE
        self.panel.set_image_size(self.image_size)
        self.panel.zoom_2d(sequence.keypoints_2d)     # on the person, the same view for every frame of the sequence
        n = len(sequence.keypoints_2d)
        with self._suspend():
            self.frame_slider.max = n - 1
            self.play.max = n - 1
            if self.frame_slider.value > n - 1:
                self.frame_slider.value = n - 1
        fps = float(getattr(sequence, "fps", 50.0) or 50.0)
        self.play.interval = int(max(200, 1000.0 / fps))  # drawing a frame takes ~0.1-0.2 s

    def _noisy_keypoints(self, noise_px: float | None = None) -> np.ndarray:
        noise_px = self.noise_px if noise_px is None else float(noise_px)
        key = self._sequence_key() + (noise_px,)
        seed = _stable_seed(self.noise_seed, *key)
        return self._noisy_inputs.get_or_compute(
            key, lambda: add_pixel_noise(self.sequence.keypoints_2d, noise_px, self.image_size[0], seed))

    def _prediction_key(self, branch: str | None, noise_px: float | None = None) -> tuple:
        noise_px = self.noise_px if noise_px is None else float(noise_px)
        return self._sequence_key() + (self.checkpoint, noise_px, self.flip_tta, branch)

    def _update_prediction(self) -> None:
        """Compute (or fetch from the cache) the whole sequence's prediction for the current settings."""
        self.keypoints_2d = self._noisy_keypoints()
        if self.checkpoint == NO_CHECKPOINT:
            self.prediction = None
            self.message = "Showing the recorded motion only. Choose a checkpoint to see what a model predicts."
            return
        key = self._prediction_key(self.branch)
        cached = key in self._predictions
        started = time.perf_counter()
        self.prediction = self._prediction_for(self.branch, self.noise_px)
        noise = f" with {self.noise_px:g} px of added noise" if self.noise_px else ""
        if cached:
            self.message = f"Already computed for this sequence{noise}: only the drawing is repeated."
        else:
            self.message = (f"The model {self.checkpoint} lifted all {len(self.prediction)} frames{noise} in "
                            f"{time.perf_counter() - started:.1f} s. Moving through the frames now only redraws.")

    def _prediction_for(self, branch: str | None, noise_px: float) -> np.ndarray:
        """The whole sequence's prediction for a branch and a noise level (cached; the controls are not touched)."""
        return self._predictions.get_or_compute(self._prediction_key(branch, noise_px),
                                                lambda: self._predict(branch, noise_px))

    def _predict(self, branch: str | None, noise_px: float) -> np.ndarray:
        """Run the model on the whole (noisy) sequence; with the default predictor every branch is cached at once."""
        checkpoint = self._model_for(self.checkpoint)
        model = getattr(checkpoint, "model", checkpoint)
        noisy = _with_keypoints(self.sequence, self._noisy_keypoints(noise_px))
        self.prediction_calls += 1
        if self._predict_fn is None:
            from .evaluation import predict_branches

            outputs = predict_branches(model, noisy, flip_tta=self.flip_tta)
            for name, values in outputs.items():   # one forward pass computes every branch: keep them all
                self._predictions[self._prediction_key(name, noise_px)] = self._checked(values)
            chosen = branch or getattr(model, "answer_branch", None) or next(iter(outputs))
            prediction = outputs[chosen]
        else:
            prediction = self._predict_fn(model, noisy, flip_tta=self.flip_tta, branch=branch)
        return self._checked(prediction)

    def predict(self, branch: str | None = None, noise_px: float | None = None) -> np.ndarray | None:
        """The whole sequence's prediction (N, J, 3) in metres for ``branch`` and ``noise_px`` (default: what is
        shown), computed once and cached. The controls, and so the displayed widget, are left as they are."""
        if self.checkpoint == NO_CHECKPOINT:
            return None
        branch = self.branch if branch is None else branch
        return self._prediction_for(branch, self.noise_px if noise_px is None else float(noise_px))

    def _checked(self, prediction) -> np.ndarray:
        prediction = np.asarray(prediction, dtype=np.float32)
        expected = (len(self.keypoints_2d), self.skeleton.num_joints, 3)
        if prediction.shape != expected:
            raise ValueError(f"checkpoint {self.checkpoint!r} predicted shape {prediction.shape}, expected {expected}; "
                             f"was it trained on the {self.skeleton.name!r} layout?")
        return prediction

    # ================================================================== option lists
    @contextlib.contextmanager
    def _suspend(self):
        """Change several widgets without their observers reacting to each intermediate value."""
        previous, self._suspended = self._suspended, True
        try:
            yield
        finally:
            self._suspended = previous

    @staticmethod
    def _set_options(dropdown, options: list, preferred=None) -> None:
        values = [value for _, value in options] if options and isinstance(options[0], tuple) else list(options)
        keep = preferred if preferred in values else (dropdown.value if dropdown.value in values else None)
        dropdown.options = options
        if values:
            dropdown.value = keep if keep is not None else values[0]

    def _refresh_subjects(self, preferred=None) -> None:
        subjects = split_subjects(self.dataset, self.split)
        if not subjects:
            raise ValueError(f"the dataset has no {self.split} subjects (it has {', '.join(self.dataset.subjects)})")
        if preferred is not None and preferred not in subjects:
            raise ValueError(f"subject {preferred!r} is not in the {self.split} split ({', '.join(subjects)})")
        self._set_options(self.subject_dropdown, subjects, preferred)

    def _refresh_actions(self, preferred=None) -> None:
        actions = list(self.dataset.actions(self.subject))
        if preferred is not None and preferred not in actions:
            raise ValueError(f"subject {self.subject} has no action {preferred!r}; actions: {', '.join(actions)}")
        self._set_options(self.action_dropdown, actions, preferred)

    def _refresh_cameras(self, preferred=None) -> None:
        count = len(self.dataset.cameras[self.subject])
        if preferred is not None and not 0 <= int(preferred) < count:
            raise ValueError(f"camera must be in 0 .. {count - 1} for subject {self.subject}, got {preferred}")
        self._set_options(self.camera_dropdown, [(f"camera {i}", i) for i in range(count)], preferred)

    def _refresh_branches(self) -> None:
        if self.checkpoint == NO_CHECKPOINT:
            self.branch_buttons.options = ["(answer)"]
            self.branch_buttons.disabled = True
            self.branch_box.layout.display = "none"
            return
        checkpoint = self._model_for(self.checkpoint)
        model = getattr(checkpoint, "model", checkpoint)
        config = getattr(checkpoint, "config", None) or getattr(model, "config", None)
        branches = list(getattr(config, "branches", None) or getattr(model, "branches", None) or [])
        answer = getattr(model, "answer_branch", None)
        options = branches if len(branches) > 1 else ["(answer)"]
        self.branch_buttons.options = options
        self.branch_buttons.value = answer if answer in options else options[0]
        self.branch_buttons.disabled = len(options) == 1
        self.branch_box.layout.display = None if len(options) > 1 else "none"   # a control only where there is a choice

    # ================================================================== observers
    def _guarded(self, action: Callable[[], None]) -> None:
        """Run an observer's work; a failure is shown in the status line instead of vanishing into the kernel log."""
        if self._suspended:
            return
        try:
            action()
            self.status.value = self.message
        except Exception as error:  # noqa: BLE001 - shown to the user, then re-raised for tests and logs
            self.status.value = f"<span style='color:#b00'>{type(error).__name__}: {error}</span>"
            raise

    def _on_sequence_change(self, change) -> None:
        def work():
            with self._suspend():
                if change["owner"] is self.split_dropdown:
                    self._refresh_subjects()
                if change["owner"] in (self.split_dropdown, self.subject_dropdown):
                    self._refresh_actions()   # keeps the action and camera when the new subject has them
                    self._refresh_cameras()
            self._load_sequence()
            self._update_prediction()
            self._render()

        self._guarded(work)

    def _on_checkpoint_change(self, change) -> None:
        def work():
            with self._suspend():
                self._refresh_branches()
            self._update_prediction()
            self._render()

        self._guarded(work)

    def _on_prediction_change(self, change) -> None:
        def work():
            self._update_prediction()
            self._render()

        self._guarded(work)

    def _on_frame_change(self, change) -> None:
        self._guarded(self._render)

    def _on_view_change(self, change) -> None:
        self._guarded(self._render)

    # ================================================================== drawing
    def _render(self) -> None:
        """Draw the current frame into the image widget and update the frame label and the errors."""
        self.panel.set_error_limit(0.0)   # the colour scale's top; a frame with larger errors widens its own axis
        frame = min(self.frame, self.num_frames - 1)
        ground_truth = None if self.ground_truth is None else self.ground_truth[frame]
        prediction = None if self.prediction is None else self.prediction[frame]
        self.panel.set_view(self.elevation_slider.value, self.azimuth_slider.value)
        errors = self.panel.update(self.keypoints_2d[frame], ground_truth, prediction)
        self.current_errors = errors
        self.current_p1 = None if errors is None else float(errors.mean())
        self.panel.title.set_text(self._title())      # frame and P1 are in the label beside the slider, once
        self.image.value = self.panel.to_png()
        self.render_count += 1
        p1 = "" if self.current_p1 is None else f" &middot; P1 <b>{self.current_p1:.1f} mm</b>"
        self.frame_label.value = (f"<span class='ehfusion-frame-number'>frame {frame} / {self.num_frames - 1}</span>"
                                  f"{p1}")
        self.split_note.value = self._split_note()

    def _title(self, frame: int | None = None, errors=None) -> str:
        """What is shown: sequence, model, noise (and, for standalone figures, the frame and its P1)."""
        prefix = f"{self.subject} {self.action}, camera {self.camera}"
        if self.split == "train":
            prefix += " (training data)"
        if self.checkpoint != NO_CHECKPOINT:
            prefix += f" | {self.checkpoint}" + (f" [{self.branch} branch]" if self.branch else "")
        if self.noise_px:
            prefix += f" | +{self.noise_px:g} px noise"
        return prefix if frame is None else frame_title(frame, self.num_frames, errors, prefix=prefix)

    def _split_note(self) -> str:
        if self.split != "train":
            return ""
        return ("<span style='color:#8a5a00'>Training data: the models learned from these subjects, so their errors "
                "here are lower than on new people. Choose the test subjects to judge a model.</span>")

    # ================================================================== display and export
    def show(self) -> None:
        """Display the explorer (the widget, with a PNG of the current frame for frontends without widgets)."""
        from IPython.display import display

        display(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self.widget._repr_mimebundle_())
        # without a widget frontend only the picture is seen: it names the frame and its P1 itself
        self.panel.title.set_text(self._title(self.frame, self.current_errors))
        try:
            bundle["image/png"] = base64.b64encode(self.panel.to_png()).decode("ascii")
        finally:
            self.panel.title.set_text(self._title())
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        p1 = "n/a" if self.current_p1 is None else f"{self.current_p1:.1f} mm"
        return (f"PoseExplorer({self.subject} / {self.action} / camera {self.camera}, frame {self.frame} of "
                f"{self.num_frames}, checkpoint {self.checkpoint}, P1 {p1})")

    def static_summary(self):
        """A figure for frontends without widgets: this frame, and the whole sequence's per-frame P1 (if predicted)."""
        from matplotlib.figure import Figure

        errors = self.sequence_errors()
        fig = Figure(figsize=(13.0, 6.4 if errors is not None else 3.6), dpi=self.panel.dpi)
        grid = fig.add_gridspec(2 if errors is not None else 1, 1, height_ratios=[3.6, 2.2] if errors is not None
                                else [1.0], left=0.06, right=0.97, bottom=0.08, top=0.9, hspace=0.3)
        panel = PoseFramePanel(self.skeleton, image_size=self.image_size, max_error_mm=float(self.panel.norm.vmax),
                               elev=self.elevation_slider.value, azim=self.azimuth_slider.value,
                               subplot_spec=grid[0])
        panel.zoom_2d(self.sequence.keypoints_2d)
        frame = self.frame
        frame_errors = panel.update(self.keypoints_2d[frame],
                                    None if self.ground_truth is None else self.ground_truth[frame],
                                    None if self.prediction is None else self.prediction[frame])
        panel.title.set_text(self._title(frame, frame_errors))
        if errors is not None:
            ax_curve = fig.add_subplot(grid[1])
            ax_curve.plot(errors.mean(axis=1), color="#1f77b4", lw=1.5, label="P1 per frame")
            ax_curve.axvline(frame, color="#d62728", lw=1, ls="--", label=f"frame {frame}")
            ax_curve.set_xlabel("frame")
            ax_curve.set_ylabel("P1 (mm)")
            ax_curve.set_xlim(0, max(len(errors) - 1, 1))
            ax_curve.set_title(f"whole sequence: mean P1 {errors.mean():.1f} mm", fontsize=10)
            ax_curve.legend(loc="upper right", fontsize=8)
        return fig

    def animation(self, frames=None, fps: float = 10.0):
        """An animation of the current selection (noise and prediction included); save with :func:`save_animation`."""
        return animate_sequence(self.keypoints_2d, self.ground_truth, self.prediction, self.skeleton,
                                frames=frames, fps=fps, image_size=self.image_size,
                                title=f"{self.subject} {self.action} cam {self.camera}",
                                elev=self.elevation_slider.value, azim=self.azimuth_slider.value,
                                max_error_mm=float(self.panel.norm.vmax), dpi=self.panel.dpi)

    def save_gif(self, path, frames=None, fps: float = 10.0) -> Path:
        """Write the current selection as an animated GIF (atomically) and return its path."""
        return save_animation(self.animation(frames=frames, fps=fps), path)

    def save_png(self, path) -> Path:
        """Write the current frame's PNG (exactly what the widget shows) atomically and return its path."""
        from .io import atomic_write

        path = Path(path)
        with atomic_write(path) as handle:
            handle.write(self.image_bytes)
        return path


# --------------------------------------------------------------------------------------------------------- sequences
def _replace(sequence, **fields):
    """A copy of a Sequence (dataclass or simple object) with some fields replaced."""
    import copy
    import dataclasses

    if dataclasses.is_dataclass(sequence):
        return dataclasses.replace(sequence, **fields)
    clone = copy.copy(sequence)
    for name, value in fields.items():
        setattr(clone, name, value)
    return clone


def _trim(sequence, n: int):
    fields = {"keypoints_2d": sequence.keypoints_2d[:n]}
    for name in ("poses_3d", "trajectory"):
        value = getattr(sequence, name, None)
        if value is not None:
            fields[name] = value[:n]
    return _replace(sequence, **fields)


def _with_keypoints(sequence, keypoints_2d: np.ndarray):
    return _replace(sequence, keypoints_2d=keypoints_2d)
