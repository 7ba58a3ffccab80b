"""The controls panel: source, style actions, strength, mixing, colour, size, view, record.

Widgets only: the window connects them to the pipeline. They take no keyboard focus,
so every key reaches the window's hotkeys.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                             QSlider, QVBoxLayout, QWidget)

from app.live.adaptive import DEFAULT_TARGET_FPS, MIN_SIZE
from app.ui.state import UiState

COLOR_CHOICES = (("Off", "none"), ("Luminance", "luminance"), ("Histogram", "histogram"))
SIZE_CHOICES = (("auto", None), (MIN_SIZE, f"{MIN_SIZE} px (fastest)"), (192, "192 px"),
                (256, "256 px"), (384, "384 px"), (512, "512 px"),
                (720, "720 px"), (None, "Full frame"))  # auto's text names the target: auto_text()
VIEW_CHOICES = ("stylized", "side by side", "original")
MODEL_CHOICES = (("Full", "full"), ("Fast", "fast"))
MODEL_TIP = ("Full: VGG-19, the best pictures (live on a GPU, a few frames/s on a CPU). Fast: the distilled "
             "student, live speed on a CPU at some cost in quality. Switching keeps the video running")


def auto_text(target_fps: float) -> str:
    """The 'auto' entry: what it aims at (what it achieves is shown beside it, in size_status)."""
    return f"Auto: largest size for {target_fps:g} fps"


def _no_focus(*widgets: QWidget) -> None:
    for w in widgets:
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)


def _slider(maximum: int = 100) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, maximum)
    s.setSingleStep(1)
    s.setPageStep(10)
    _no_focus(s)
    return s


class MixPanel(QGroupBox):
    """Weights of the selected styles: one A -> B slider for two, one slider each for more."""

    weights_changed = pyqtSignal(list)

    def __init__(self) -> None:
        super().__init__("Mix")
        self._layout = QGridLayout(self)
        self._sliders: list[QSlider] = []
        self._names: list[str] = []
        self.setVisible(False)

    def set_styles(self, names: list[str], weights: list[float]) -> None:
        while self._layout.count():
            w = self._layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self._sliders, self._names = [], list(names)
        self.setVisible(len(names) >= 2)
        if len(names) < 2:
            return
        weights = list(weights) if len(weights) == len(names) and sum(weights) > 0 else [1.0] * len(names)
        total = sum(weights)
        if len(names) == 2:
            s = _slider()
            s.setObjectName("blend")
            s.setValue(round(100 * weights[1] / total))
            s.setToolTip("Blend from the first style (left) to the second (right)")
            self._layout.addWidget(QLabel(_short(names[0])), 0, 0)
            self._layout.addWidget(QLabel(_short(names[1])), 0, 2, Qt.AlignmentFlag.AlignRight)
            self._layout.addWidget(s, 1, 0, 1, 3)
            s.valueChanged.connect(self._emit)
            self._sliders = [s]
            return
        for row, (name, w) in enumerate(zip(names, weights)):
            s = _slider()
            s.setValue(round(100 * w / max(weights)))
            self._layout.addWidget(QLabel(_short(name)), row, 0)
            self._layout.addWidget(s, row, 1)
            s.valueChanged.connect(self._emit)
            self._sliders.append(s)

    def weights(self) -> list[float]:
        if len(self._names) == 2 and self._sliders:
            b = self._sliders[0].value() / 100.0
            return [1.0 - b, b]
        return [s.value() / 100.0 for s in self._sliders]

    @property
    def blend_slider(self) -> QSlider | None:
        return self._sliders[0] if len(self._names) == 2 and self._sliders else None

    def _emit(self) -> None:
        w = self.weights()
        if sum(w) > 0:
            self.weights_changed.emit(w)


def _short(name: str, n: int = 14) -> str:
    text = name.replace("_", " ")
    return text if len(text) <= n else text[: n - 1] + "\u2026"


class ControlsPanel(QWidget):
    """Every control of the live window except the gallery."""

    alpha_changed = pyqtSignal(float)
    stabilize_changed = pyqtSignal(float)
    palette_changed = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(270)
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)

        src = QGroupBox("Source")
        grid = QGridLayout(src)
        self.camera_button = QPushButton("Camera")
        self.demo_button = QPushButton("Demo")
        self.open_video_button = QPushButton("Open video...")
        self.open_image_button = QPushButton("Open image...")
        grid.addWidget(self.camera_button, 0, 0)
        grid.addWidget(self.demo_button, 0, 1)
        grid.addWidget(self.open_video_button, 1, 0)
        grid.addWidget(self.open_image_button, 1, 1)
        self.mirror_check = QCheckBox("Mirror (M)")
        grid.addWidget(self.mirror_check, 2, 0)
        self.capture_style_button = QPushButton("Use as style (C)")
        self.capture_style_button.setToolTip("Hold a scarf, a drawing or a book cover up to the camera: the "
                                             "middle of the camera picture becomes a new style, kept in your "
                                             "styles folder")
        grid.addWidget(self.capture_style_button, 2, 1)
        root.addWidget(src)

        sty = QGroupBox("Style")
        v = QVBoxLayout(sty)
        row = QHBoxLayout()
        self.add_style_button = QPushButton("Add style...")
        self.remove_style_button = QPushButton("Remove style")
        row.addWidget(self.add_style_button)
        row.addWidget(self.remove_style_button)
        v.addLayout(row)
        self.alpha_label = QLabel()
        v.addWidget(self.alpha_label)
        self.alpha_slider = _slider()
        self.alpha_slider.setToolTip("Content (left) to full style (right); Up/Down keys")
        self.alpha_slider.valueChanged.connect(self._on_alpha)
        v.addWidget(self.alpha_slider)
        self.stabilize_label = QLabel()
        v.addWidget(self.stabilize_label)
        self.stabilize_slider = _slider()
        self.stabilize_slider.setToolTip("Temporal stabilisation: steadier textures from frame to frame "
                                         "(0: every frame on its own)")
        self.stabilize_slider.valueChanged.connect(self._on_stabilize)
        v.addWidget(self.stabilize_slider)
        self.palette_label = QLabel()
        v.addWidget(self.palette_label)
        self.palette_slider = _slider()
        self.palette_slider.setToolTip("How far the picture takes the painting's colours: 0 keeps the network's, "
                                       "1 the painting's own (starts at the model's default; off while keeping "
                                       "the camera's colours)")
        self.palette_slider.valueChanged.connect(self._on_palette)
        v.addWidget(self.palette_slider)
        form = QGridLayout()
        form.addWidget(QLabel("Keep colours"), 0, 0)
        self.color_combo = QComboBox()
        for label, value in COLOR_CHOICES:
            self.color_combo.addItem(label, value)
        self.color_combo.setToolTip("Keep the camera's colours: luminance transfer, or match the style's "
                                    "colours to the camera first (histogram)")
        form.addWidget(self.color_combo, 0, 1)
        form.addWidget(QLabel("Processing size"), 1, 0)
        self.size_status = QLabel("")  # the size in use and the frame rate achieved: refreshed by the window
        self.size_status.setStyleSheet("color: gray;")
        self.size_status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addWidget(self.size_status, 1, 1)
        self.size_combo = QComboBox()
        for value, label in SIZE_CHOICES:
            self.size_combo.addItem(label or auto_text(DEFAULT_TARGET_FPS), value)
        self.size_combo.setToolTip("Short side the network works at: smaller is faster, larger is finer. "
                                   "Auto picks the largest size that reaches the target frame rate, "
                                   f"but never below {MIN_SIZE} px, where the picture would dissolve")
        form.addWidget(self.size_combo, 2, 0, 1, 2)
        form.addWidget(QLabel("Model"), 3, 0)
        self.model_combo = QComboBox()
        for label, value in MODEL_CHOICES:
            self.model_combo.addItem(label, value)
        self.model_combo.setToolTip(MODEL_TIP)
        form.addWidget(self.model_combo, 3, 1)
        v.addLayout(form)
        hint = QLabel("Ctrl+click styles below to mix them.")
        hint.setStyleSheet("color: gray;")
        v.addWidget(hint)
        root.addWidget(sty)

        self.mix_panel = MixPanel()
        root.addWidget(self.mix_panel)

        show = QGroupBox("View")
        g = QGridLayout(show)
        self.view_combo = QComboBox()
        for mode in VIEW_CHOICES:
            self.view_combo.addItem(mode.capitalize(), mode)
        g.addWidget(self.view_combo, 0, 0, 1, 2)
        self.overlay_check = QCheckBox("Overlay (O)")
        g.addWidget(self.overlay_check, 1, 0)
        self.fullscreen_button = QPushButton("Fullscreen (F)")
        g.addWidget(self.fullscreen_button, 1, 1)
        root.addWidget(show)

        out = QGroupBox("Capture")
        h = QGridLayout(out)
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.setStyleSheet("QPushButton:checked { background-color: #b3261e; color: white; }")
        self.record_button.setToolTip("Record the stylized video to your videos folder (Space)")
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("Save the current stylized frame as a PNG (S)")
        self.virtual_camera_button = QPushButton("Virtual camera (V)")
        self.virtual_camera_button.setCheckable(True)
        self.virtual_camera_button.setToolTip("Send the stylized video to a virtual webcam that video-call apps "
                                              "can pick (needs pyvirtualcam and v4l2loopback or OBS)")
        h.addWidget(self.record_button, 0, 0)
        h.addWidget(self.snapshot_button, 0, 1)
        h.addWidget(self.virtual_camera_button, 1, 0, 1, 2)
        root.addWidget(out)

        root.addStretch(1)
        self.help_button = QPushButton("Keyboard shortcuts (H)")
        root.addWidget(self.help_button)
        before = self.sizeHint().height()  # measured here, unshown: in a shown panel new widgets show later
        self.mix_panel.set_styles(["first", "second"], [])
        self._mix_height = self.sizeHint().height() - before  # what a two-style mix adds
        self.mix_panel.set_styles([], [])
        _no_focus(self.camera_button, self.demo_button, self.open_video_button, self.open_image_button,
                  self.stabilize_slider, self.mirror_check, self.add_style_button, self.remove_style_button,
                  self.capture_style_button, self.color_combo,
                  self.size_combo, self.model_combo, self.view_combo, self.overlay_check, self.fullscreen_button,
                  self.record_button, self.snapshot_button, self.virtual_camera_button, self.help_button)
        self._on_alpha(self.alpha_slider.value())
        self._on_stabilize(self.stabilize_slider.value())
        self.show_palette(0.0)

    # ------------------------------------------------------------------ values

    def apply_state(self, s: UiState, target_fps: float) -> None:
        """Show a remembered (or command-line) state. Alpha and steadiness are announced once
        (``alpha_changed``, ``stabilize_changed``); the other widgets change quietly, and the
        window applies their values itself."""
        quiet = (self.alpha_slider, self.stabilize_slider, self.color_combo, self.size_combo, self.view_combo,
                 self.mirror_check, self.overlay_check)
        if s.palette is not None:  # else the running model's default, shown with the model
            self.show_palette(s.palette)
        for w in quiet:
            w.blockSignals(True)
        try:
            self.set_alpha(s.alpha)
            self._on_alpha(self.alpha_slider.value())
            self.set_stabilize(s.stabilize)
            self._on_stabilize(self.stabilize_slider.value())
            self.set_combo(self.color_combo, s.color)
            self.palette_slider.setEnabled(s.color == "none")
            self.set_target_fps(target_fps)
            self.set_combo(self.size_combo, s.size)
            self.set_combo(self.view_combo, s.view)
            self.mirror_check.setChecked(s.mirror)
            self.overlay_check.setChecked(s.overlay)
        finally:
            for w in quiet:
                w.blockSignals(False)

    def set_alpha(self, alpha: float) -> None:
        _set_fraction(self.alpha_slider, alpha)

    @property
    def alpha(self) -> float:
        return self.alpha_slider.value() / 100.0

    def _on_alpha(self, value: int) -> None:
        self.alpha_label.setText(f"Strength (alpha): {value / 100:.2f}")
        self.alpha_changed.emit(value / 100.0)

    def set_stabilize(self, strength: float) -> None:
        _set_fraction(self.stabilize_slider, strength)

    @property
    def stabilize(self) -> float:
        return self.stabilize_slider.value() / 100.0

    def _on_stabilize(self, value: int) -> None:
        self.stabilize_label.setText(f"Steadiness (anti-flicker): {value / 100:.2f}")
        self.stabilize_changed.emit(value / 100.0)

    def set_palette(self, strength: float) -> None:
        _set_fraction(self.palette_slider, strength)

    def show_palette(self, strength: float) -> None:
        """Show ``strength`` quietly (a remembered value, or the running model's default)."""
        self.palette_slider.blockSignals(True)
        try:
            self.set_palette(strength)
        finally:
            self.palette_slider.blockSignals(False)
        self._label_palette(self.palette_slider.value())

    def _label_palette(self, value: int) -> None:
        self.palette_label.setText(f"Painting's colours: {value / 100:.2f}")

    def _on_palette(self, value: int) -> None:
        self._label_palette(value)
        self.palette_changed.emit(value / 100.0)

    def full_height(self) -> int:
        """The panel's height with a two-style mix shown: the window is sized for it, so selecting a
        second style does not push Record, Snapshot or the shortcuts button out of sight."""
        return self.sizeHint().height() + (self._mix_height if self.mix_panel.isHidden() else 0)

    def set_target_fps(self, target_fps: float) -> None:
        self.size_combo.setItemText(self.size_combo.findData("auto"), auto_text(target_fps))

    def show_size_status(self, size: int | None, fps: float, target_fps: float | None) -> None:
        """``size`` px now (None: the frame's own), at ``fps`` stylized frames/s; of ``target_fps`` when auto."""
        where = f"{size} px" if size else "full frame"
        rate = f"{fps:.1f} of {target_fps:g} fps" if target_fps else f"{fps:.1f} fps"
        self.size_status.setText(f"{where}, {rate}")

    def show_model(self, model: str | None, fast_missing: str | None, fixed: str | None) -> None:
        """The running ``model`` (quietly: nothing is switched). The fast entry is disabled while
        ``fast_missing`` says why; the whole control while ``fixed`` says why (files named on the
        command line)."""
        combo = self.model_combo
        combo.blockSignals(True)
        try:
            self.set_combo(combo, model)
        finally:
            combo.blockSignals(False)
        fast = combo.findData("fast")
        item = combo.model().item(fast)  # a QStandardItemModel: each entry can be disabled on its own
        item.setEnabled(fast_missing is None or model == "fast")
        item.setToolTip(f"Not available: {fast_missing}" if fast_missing else "")
        combo.setEnabled(fixed is None)
        if fixed is not None:
            combo.setToolTip(f"{MODEL_TIP}. {fixed}")
        elif fast_missing:
            combo.setToolTip(f"{MODEL_TIP}. Fast is not available: {fast_missing}")
        else:
            combo.setToolTip(MODEL_TIP)

    def set_combo(self, combo: QComboBox, value: object) -> None:
        i = combo.findData(value)
        if i < 0 and combo is self.size_combo and isinstance(value, int):
            combo.addItem(f"{value} px", value)
            i = combo.count() - 1
        if i >= 0:
            combo.setCurrentIndex(i)


def _set_fraction(slider: QSlider, value: float) -> None:
    """A 0..100 slider set to ``value`` in [0, 1] (clamped)."""
    slider.setValue(round(100 * max(0.0, min(1.0, value))))
