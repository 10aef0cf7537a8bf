"""The interactive pose explorer: the ipywidgets view of an :class:`~ehfusion.explorer.ExplorerState`.

:class:`PoseExplorer` builds the controls (split, subject, action, camera, model, branch, noise, frame, view angles),
forwards each change to its state (:meth:`~ehfusion.explorer.ExplorerState.select`), sets the controls to what the
state then holds (option lists follow the selection) and redraws the frame with
:class:`ehfusion.visualisation.PoseFramePanel` into PNG bytes shown by an ``ipywidgets.Image``. The state predicts a
whole sequence once and caches it, so scrubbing and rotating only redraw; everything shown is readable there
(``explorer.state``).

Without a widget frontend (papermill, CI, a static HTML export) displaying the explorer shows a PNG of the current
frame, and :meth:`PoseExplorer.static_summary` draws the whole sequence's errors.

    >>> explorer = PoseExplorer("embedded", split="test", checkpoint="gt_one-stage_best_epoch.bin")  # doctest: +SKIP
    >>> explorer                     # in JupyterLab: the widget; elsewhere: a PNG of the frame
    >>> explorer.state.current_p1    # the frame's P1 (mm)
"""
from __future__ import annotations

import base64
import contextlib
import functools
import html
from pathlib import Path
from typing import Iterable

from .checkpoint_choice import best_checkpoint
from .data import PoseDataset, load_dataset
from .explorer import NO_CHECKPOINT, ExplorerState
from .explorer_figures import selection_animation, selection_title, summary_figure
from .io import atomic_write
from .visualisation import DEFAULT_AZIMUTH, DEFAULT_ELEVATION, PoseFramePanel, save_animation

__all__ = ["PoseExplorer", "ExplorerState", "NO_CHECKPOINT", "best_checkpoint"]

#: The branch control's only option for a model with one output (the control is then hidden).
ANSWER = "(answer)"
TRAINING_DATA_NOTE = ("<span style='color:#8a5a00'>Training data: the models learned from these subjects, so their "
                      "errors here are lower than on new people. Choose the test subjects to judge a model.</span>")


class PoseExplorer:
    """Browse sequences, checkpoints and frames: the 2D input, the 3D ground truth, the prediction and its errors.

    ``dataset`` is a :class:`~ehfusion.data.PoseDataset` or a name for :func:`ehfusion.data.load_dataset` (with
    ``keypoints``). The selection and model options (``split``, ``subject``, ``action``, ``camera``, ``checkpoint``,
    ``checkpoints``, ``checkpoint_dir``, ``max_frames``, ``flip_tta``, ``noise_seed``) are those of
    :class:`~ehfusion.explorer.ExplorerState`; ``max_error_mm`` is the top of the error colour scale, ``max_noise_px``
    the end of the noise slider and ``dpi`` the resolution of the picture.
    """

    def __init__(self, dataset: PoseDataset | str = "embedded", *, keypoints: str = "gt", split: str = "test",
                 subject: str | None = None, action: str | None = None, camera: int | None = None,
                 checkpoint: str | None = None, checkpoints: Iterable[str] | None = None,
                 checkpoint_dir: str | Path | None = None, max_frames: int | None = None, flip_tta: bool = True,
                 noise_seed: int = 0, max_error_mm: float = 150.0, max_noise_px: float = 20.0, dpi: int = 80):
        if isinstance(dataset, str):
            dataset = load_dataset(dataset, keypoints=keypoints)
        self.state = ExplorerState(dataset, split=split, subject=subject, action=action, camera=camera,
                                   checkpoint=checkpoint, checkpoints=checkpoints, checkpoint_dir=checkpoint_dir,
                                   max_frames=max_frames, flip_tta=flip_tta, noise_seed=noise_seed)
        self.panel = PoseFramePanel(self.state.skeleton, max_error_mm=max_error_mm, dpi=dpi, figsize=(12.5, 3.6))
        self.render_count = 0
        self.message = self._prediction_message(calls_before=0)   # what the last prediction cost, under the picture
        self._quiet = False
        self._framed_sequence = None
        self._build_widgets(max_noise_px)
        self._show_selection()
        self._render()
        self.status.value = html.escape(self.message, quote=False)
        for field, control in self.controls.items():
            control.observe(functools.partial(self._on_control, field), names="value")
        for slider in (self.azimuth_slider, self.elevation_slider):
            slider.observe(self._on_view_angle, names="value")

    # ================================================================== building
    def _build_widgets(self, max_noise_px: float) -> None:
        """Create the controls, the image and the layout (options and values come from :meth:`_show_selection`).

        Four short rows of controls above the picture and one status line below it, at most 1000 px wide, so the
        explorer fits a 1280 x 800 screen beside JupyterLab's side bar.
        """
        import ipywidgets as widgets

        style = {"description_width": "62px"}

        def box(width):
            return widgets.Layout(width=width)

        self.split_dropdown = widgets.Dropdown(options=[("test subjects", "test"), ("training subjects", "train")],
                                               description="split", layout=box("230px"), style=style)
        self.subject_dropdown = widgets.Dropdown(description="subject", layout=box("150px"), style=style)
        self.action_dropdown = widgets.Dropdown(description="action", layout=box("230px"), style=style)
        self.camera_dropdown = widgets.Dropdown(description="camera", layout=box("170px"), style=style)
        models = [("none (recorded motion only)" if name == NO_CHECKPOINT else name, name)
                  for name in self.state.checkpoint_options]
        self.checkpoint_dropdown = widgets.Dropdown(options=models, description="model", layout=box("420px"),
                                                    style=style)
        self.branch_buttons = widgets.ToggleButtons(options=[ANSWER], style={"button_width": "80px"})
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
        #: The control of each part of the selection (its value is forwarded to ``state.select``).
        self.controls = {"split": self.split_dropdown, "subject": self.subject_dropdown,
                         "action": self.action_dropdown, "camera": self.camera_dropdown,
                         "checkpoint": self.checkpoint_dropdown, "branch": self.branch_buttons,
                         "noise_px": self.noise_slider, "frame": self.frame_slider}

        self.widget = widgets.VBox([
            widgets.HBox([self.split_dropdown, self.subject_dropdown, self.action_dropdown, self.camera_dropdown]),
            widgets.HBox([self.checkpoint_dropdown, self.branch_box]),
            widgets.HBox([self.play, self.frame_slider, self.frame_label]),
            widgets.HBox([self.azimuth_slider, self.elevation_slider, self.noise_slider]),
            self.split_note,
            self.image,
            self.status,
        ], layout=widgets.Layout(max_width="1000px"))

    # ================================================================== events: control -> state -> controls, picture
    def _on_control(self, field: str, change) -> None:
        """A control moved: select its value in the state, then show the selection the state settled on."""
        if self._quiet or (field == "branch" and change["new"] == ANSWER):
            return
        calls = self.state.prediction_calls

        def work():
            self.state.select(**{field: change["new"]})
            if field != "frame":
                self.message = self._prediction_message(calls)
            self._show_selection()
            self._render()

        self._report(work)

    def _on_view_angle(self, change) -> None:
        if not self._quiet:
            self._report(self._render)

    def _report(self, work) -> None:
        """Run an event's work; a failure is shown in the status line (the controls go back to the state's selection,
        which a failed change leaves as it was) and raised again for tests and the kernel log."""
        try:
            work()
        except Exception as error:  # noqa: BLE001 - shown to the user, then re-raised with its traceback
            self._show_selection()
            self.status.value = (f"<span style='color:#b00'>{type(error).__name__}: "
                                 f"{html.escape(str(error), quote=False)}</span>")
            raise
        self.status.value = html.escape(self.message, quote=False)

    def _prediction_message(self, calls_before: int) -> str:
        """What the selected prediction cost: computed now (how long) or found in the cache."""
        state = self.state
        if state.checkpoint == NO_CHECKPOINT:
            return "Showing the recorded motion only. Choose a checkpoint to see what a model predicts."
        noise = f" with {state.noise_px:g} px of added noise" if state.noise_px else ""
        if state.prediction_calls == calls_before:
            return f"Already computed for this sequence{noise}: only the drawing is repeated."
        return (f"The model {state.checkpoint} lifted all {state.num_frames} frames{noise} in "
                f"{state.prediction_seconds:.1f} s. Moving through the frames now only redraws.")

    @contextlib.contextmanager
    def _quietly(self):
        """Set several controls without their observers reacting to each intermediate value."""
        previous, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = previous

    def _show_selection(self) -> None:
        """Set every control's options and value to the state's selection."""
        state = self.state
        several_branches = len(state.branches) > 1
        with self._quietly():
            self.split_dropdown.value = state.split
            _set_choice(self.subject_dropdown, state.subjects, state.subject)
            _set_choice(self.action_dropdown, state.actions, state.action)
            _set_choice(self.camera_dropdown, [(f"camera {i}", i) for i in state.cameras], state.camera)
            self.checkpoint_dropdown.value = state.checkpoint
            _set_choice(self.branch_buttons, state.branches if several_branches else [ANSWER],
                        state.branch if several_branches else ANSWER)
            self.branch_buttons.disabled = not several_branches
            self.branch_box.layout.display = None if several_branches else "none"   # a control only for a choice
            self.noise_slider.value = state.noise_px
            self.frame_slider.max = self.play.max = state.num_frames - 1
            self.frame_slider.value = state.frame
            self.play.interval = int(max(200, 1000.0 / state.sequence.fps))   # drawing a frame takes ~0.1-0.2 s

    # ================================================================== drawing
    def _render(self) -> None:
        """Draw the selected frame into the image widget; update the frame label and the training-data note."""
        state = self.state
        if state.sequence is not self._framed_sequence:   # a new sequence: frame the 2D panel on the person once
            self.panel.set_image_size(state.image_size)
            self.panel.zoom_2d(state.sequence.keypoints_2d)
            self._framed_sequence = state.sequence
        self.panel.set_error_limit(0.0)   # the colour scale's top; a frame with larger errors widens its own axis
        self.panel.set_view(self.elevation_slider.value, self.azimuth_slider.value)
        frame = state.frame
        self.panel.update(state.keypoints_2d[frame],
                          None if state.ground_truth is None else state.ground_truth[frame],
                          None if state.prediction is None else state.prediction[frame])
        self.panel.title.set_text(selection_title(state))   # frame and P1 are in the label beside the slider, once
        self.image.value = self.panel.to_png()
        self.render_count += 1
        p1 = "" if state.current_p1 is None else f" &middot; P1 <b>{state.current_p1:.1f} mm</b>"
        self.frame_label.value = (f"<span class='ehfusion-frame-number'>frame {frame} / {state.num_frames - 1}</span>"
                                  f"{p1}")
        self.split_note.value = TRAINING_DATA_NOTE if state.split == "train" else ""

    @property
    def image_bytes(self) -> bytes:
        """The PNG shown by the image widget."""
        return bytes(self.image.value)

    # ================================================================== the state's values, for notebooks
    frame = property(lambda self: self.state.frame, doc="The selected frame.")
    num_frames = property(lambda self: self.state.num_frames, doc="Frames of the selected sequence.")
    checkpoint = property(lambda self: self.state.checkpoint, doc="The selected checkpoint name (or 'none').")
    sequence = property(lambda self: self.state.sequence, doc="The selected sequence, without added noise.")
    ground_truth = property(lambda self: self.state.ground_truth, doc="(N, J, 3) metres, or None.")
    prediction = property(lambda self: self.state.prediction, doc="(N, J, 3) metres, or None without a model.")
    current_errors = property(lambda self: self.state.current_errors, doc="(J,) mm of the frame, or None.")
    current_p1 = property(lambda self: self.state.current_p1, doc="P1 (mm) of the frame, or None.")

    def sequence_errors(self, branch: str | None = None, noise_px: float | None = None):
        """(N, J) errors in mm of the shown prediction, or of another ``branch`` / ``noise_px`` (the controls stay
        where they are); see :meth:`ExplorerState.sequence_errors`."""
        return self.state.sequence_errors(branch, noise_px)

    # ================================================================== display and export
    def show(self) -> None:
        """Display the explorer (the widget, with a PNG of the current frame for frontends without widgets)."""
        from IPython.display import display

        display(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self.widget._repr_mimebundle_())
        # without a widget frontend only the picture is seen: it names the frame and its P1 itself
        self.panel.title.set_text(selection_title(self.state, self.state.frame, self.state.current_errors))
        try:
            bundle["image/png"] = base64.b64encode(self.panel.to_png()).decode("ascii")
        finally:
            self.panel.title.set_text(selection_title(self.state))
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        state = self.state
        p1 = "n/a" if state.current_p1 is None else f"{state.current_p1:.1f} mm"
        return (f"PoseExplorer({state.subject} / {state.action} / camera {state.camera}, frame {state.frame} of "
                f"{state.num_frames}, checkpoint {state.checkpoint}, P1 {p1})")

    def _figure_options(self) -> dict:
        return {"elev": self.elevation_slider.value, "azim": self.azimuth_slider.value,
                "max_error_mm": float(self.panel.norm.vmax), "dpi": self.panel.dpi}

    def static_summary(self):
        """A figure for frontends without widgets: this frame, and the whole sequence's per-frame P1 (if predicted)."""
        return summary_figure(self.state, **self._figure_options())

    def animation(self, frames=None, fps: float = 10.0):
        """An animation of the current selection (noise and prediction included); save with :func:`save_animation`."""
        return selection_animation(self.state, frames, fps, **self._figure_options())

    def save_gif(self, path, frames=None, fps: float = 10.0) -> Path:
        """Write the current selection as an animated GIF (atomically) and return its path."""
        return save_animation(self.animation(frames=frames, fps=fps), path)

    def save_png(self, path) -> Path:
        """Write the current frame's PNG (exactly what the widget shows) atomically and return its path."""
        path = Path(path)
        with atomic_write(path) as handle:
            handle.write(self.image_bytes)
        return path


def _set_choice(control, options: list, value) -> None:
    """Give a selection widget new ``options`` (only when they changed) and the ``value``."""
    if tuple(control.options) != tuple(options):
        control.options = options
    control.value = value
