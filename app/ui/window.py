"""The main window: video view, controls, gallery, hotkeys, drag-and-drop, persistence.

The UI thread only draws. A 15 ms timer polls the pipeline's one-slot output for a newer
result (``read(after, timeout=0)`` never waits), so the display shows the newest frame
and silently skips any it could not draw in time. Everything slow (style encoding,
stylizing, encoding video) happens on the pipeline's threads; work submitted there
returns a Future that the same timer checks.
"""
from __future__ import annotations

import base64
import logging
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QByteArray, QRect, QSize, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PyQt6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPushButton,
                             QScrollArea, QStackedWidget, QVBoxLayout, QWidget)

from app.errors import UserError
from app.images import IMAGE_SUFFIXES, is_image_path
from app.live.capture import CaptureStats
from app.live.pipeline import LivePipeline, SizeChoice
from app.live.recorder import RecordingStats
from app.live.remote import DEFAULT_HOST, OscServer
from app.live.sources import DEFAULT_CAMERA_SIZE, CameraSource, describe_spec, open_source
from app.live.style_capture import WINDOW_PREFIX, capture_style
from app.live.virtual_camera import VirtualCameraStats
from app.live.worker import StylizerLike, WorkerStats
from app.rules import PALETTE_DEFAULTS
from app.styles import Style, StyleLibrary
from app.ui.controls import ControlsPanel
from app.ui.gallery import StyleGallery
from app.ui.help import QUIT_KEY, HotkeysDialog
from app.ui.remote import WindowRemote
from app.ui.state import UiState, save_state
from app.ui.view import VideoView
from app.video_io import VIDEO_SUFFIXES
from app.weights import fast_model_missing

log = logging.getLogger(__name__)
POLL_MS = 15
STATS_MS = 250
ALPHA_STEP = 0.05
TITLE_BAR_PX = 40  # what window decorations usually take from the screen's available height
MODEL_NAMES = {"full": "Full (VGG-19)", "fast": "Fast (student)"}
FIXED_MODEL = "The model was given by --student, --vgg or --decoder, so it stays for this run"


class MessagePage(QWidget):
    """Shown instead of the video when the source gives nothing: what happened, and what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.addStretch(1)
        self.title = QLabel("No camera found")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.8)
        f.setBold(True)
        self.title.setFont(f)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        v.addWidget(self.title)
        v.addWidget(self.detail)
        row = QHBoxLayout()
        row.addStretch(1)
        self.open_video_button = QPushButton("Open a video...")
        self.open_image_button = QPushButton("Open an image...")
        self.demo_button = QPushButton("Play the demo")
        self.retry_button = QPushButton("Try the camera again")
        for b in (self.open_video_button, self.open_image_button, self.demo_button, self.retry_button):
            b.setMinimumHeight(36)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(b)
        row.addStretch(1)
        v.addSpacing(16)
        v.addLayout(row)
        v.addStretch(2)

    def show_problem(self, title: str, detail: str) -> None:
        self.title.setText(title)
        self.detail.setText(detail)


class MainWindow(QMainWindow):
    """The live stylizer window. Public methods are what the controls and hotkeys call (and tests)."""

    closed = pyqtSignal()  # after the pipeline has stopped and any recording is finished

    def __init__(self, pipeline: LivePipeline, library: StyleLibrary, state: UiState | None = None, *,
                 extra_styles: list[Style] | None = None, source_error: str = "",
                 frames_limit: int | None = None, save_on_close: bool = True,
                 camera_size: tuple[int, int] | None = DEFAULT_CAMERA_SIZE,
                 make_stylizer: Callable[[str], StylizerLike] | None = None) -> None:
        super().__init__()
        self._make_stylizer = make_stylizer  # 'full' or 'fast' -> a new stylizer; None: the model stays
        self._fast_missing = fast_model_missing()
        self._switching = False
        self.camera_size = camera_size
        self.last_recording = None
        self.pipeline = pipeline
        self.library = library
        self.state = state or UiState()
        self.extra_styles = list(extra_styles or [])  # --style image paths outside the library
        self.frames_limit = frames_limit
        self.save_on_close = save_on_close
        self.results_seen = 0  # results the view has been given (or skipped as stale)
        self._seq = 0
        self._shown: deque[float] = deque(maxlen=30)
        # Futures the status timer checks: (future, on success, what, on failure or None).
        self._pending: list[tuple[Future, Callable[[object], None], str, Callable[[], None] | None]] = []
        self._source_error = source_error
        self._rec_started = 0.0
        self._help: HotkeysDialog | None = None
        self.osc: OscServer | None = None  # the OSC remote control, when asked for
        self._closing = False

        self.setWindowTitle("AdaIN Live")
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.quit_action = QAction("Quit", self)  # a shortcut, so it works whichever control has the focus
        self.quit_action.setShortcut(QKeySequence(QUIT_KEY))
        self.quit_action.triggered.connect(self.close)
        self.addAction(self.quit_action)

        self.view = VideoView()
        self.message = MessagePage()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.message)
        self.controls = ControlsPanel()
        self.gallery = StyleGallery()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.stack, 1)
        self.controls_scroll = QScrollArea()  # small screens: the panel scrolls instead of growing the window
        self.controls_scroll.setWidget(self.controls)
        self.controls_scroll.setWidgetResizable(True)
        self.controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.controls_scroll.setFixedWidth(self.controls.width() + 14)
        self.controls_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        top.addWidget(self.controls_scroll)
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(4, 4, 4, 0)
        outer.addLayout(top, 1)
        outer.addWidget(self.gallery)
        self.setCentralWidget(body)
        self.source_label = QLabel("")
        self.model_label = QLabel("")
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.source_label)
        self.statusBar().setSizeGripEnabled(False)

        self._connect()
        screen = self.screen()
        self.resize(self.default_size(screen.availableGeometry().size() if screen else None))
        self._apply_state()  # a remembered geometry replaces the default

        self._frame_timer = QTimer(self)
        self._frame_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._frame_timer.timeout.connect(self.poll_frame)
        self._frame_timer.start(POLL_MS)
        self._stats_timer = QTimer(self)
        self._stats_timer.timeout.connect(self.refresh_status)
        self._stats_timer.start(STATS_MS)
        self.refresh_status()

    def default_size(self, available: QSize | None = None) -> QSize:
        """The first window: the whole side panel, a two-style mix included, without scrolling (its
        scroll area is only for screens smaller than that) beside the picture; capped to ``available``,
        less room for the title bar."""
        return self._with_whole_panel(QWidget.sizeHint, available)

    def panel_fit_size(self, available: QSize | None = None) -> QSize:
        """The smallest window that still shows the whole side panel (the picture at its minimum):
        the floor for a remembered size, capped like ``default_size``."""
        return self._with_whole_panel(QWidget.minimumSizeHint, available)

    def _with_whole_panel(self, hint: Callable[[QWidget], QSize], available: QSize | None) -> QSize:
        """The window's ``hint`` with the panel's full height in the row where its scroll area sits
        (the scroll area alone hints less; widgets' minimums are left alone, so no resize is held)."""
        size = hint(self)
        row = max(hint(self.stack).height(), hint(self.controls_scroll).height())
        size.setHeight(size.height() + max(0, self.controls.full_height() - row))
        if available is not None:
            size = size.boundedTo(QSize(available.width(), available.height() - TITLE_BAR_PX))
        return size

    def restore_geometry(self, geometry: str, area: QRect | None = None) -> None:
        """Put back a remembered position and size, grown to ``panel_fit_size`` if smaller (and moved
        back onto ``area``, the screen's available part, if growing pushed it off): a size saved by
        a version whose default cut the panel, or shrunk by hand, must not hide controls at the
        next start. Fullscreen and maximised windows are left as Qt restores them."""
        self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        if self.isFullScreen() or self.isMaximized():
            return
        if area is None and self.screen() is not None:
            area = self.screen().availableGeometry()
        floor = self.panel_fit_size(area.size() if area is not None else None)
        if self.width() >= floor.width() and self.height() >= floor.height():
            return
        self.resize(self.size().expandedTo(floor))
        if area is not None:
            frame = self.frameGeometry()
            self.move(max(area.left(), frame.left() + min(0, area.right() - frame.right())),
                      max(area.top(), frame.top() + min(0, area.bottom() - frame.bottom())))

    # ------------------------------------------------------------------ wiring

    def _connect(self) -> None:
        c = self.controls
        c.alpha_changed.connect(self._on_alpha)
        c.stabilize_changed.connect(self._on_stabilize)
        c.palette_changed.connect(self._on_palette)
        c.color_combo.currentIndexChanged.connect(lambda _: self.set_color(c.color_combo.currentData()))
        c.size_combo.currentIndexChanged.connect(lambda _: self.set_size(c.size_combo.currentData()))
        c.view_combo.currentIndexChanged.connect(lambda _: self.set_view(c.view_combo.currentData()))
        c.model_combo.currentIndexChanged.connect(lambda _: self.set_model(c.model_combo.currentData()))
        c.mirror_check.toggled.connect(self.set_mirror)
        c.overlay_check.toggled.connect(self.set_overlay)
        c.fullscreen_button.clicked.connect(self.toggle_fullscreen)
        c.record_button.clicked.connect(lambda _: self.toggle_record())
        c.snapshot_button.clicked.connect(lambda _: self.snapshot())
        c.virtual_camera_button.clicked.connect(self.set_virtual_camera)
        c.add_style_button.clicked.connect(lambda _: self.add_style_dialog())
        c.capture_style_button.clicked.connect(lambda _: self.capture_style())
        c.remove_style_button.clicked.connect(lambda _: self.remove_selected_style())
        c.help_button.clicked.connect(lambda _: self.show_help())
        c.mix_panel.weights_changed.connect(self._on_weights)
        for button, handler in ((c.camera_button, lambda: self.set_source_spec("0")),
                                (c.demo_button, lambda: self.set_source_spec("demo")),
                                (c.open_video_button, self.open_video_dialog),
                                (c.open_image_button, self.open_image_dialog),
                                (self.message.retry_button, lambda: self.set_source_spec("0")),
                                (self.message.demo_button, lambda: self.set_source_spec("demo")),
                                (self.message.open_video_button, self.open_video_dialog),
                                (self.message.open_image_button, self.open_image_dialog)):
            button.clicked.connect(lambda _=False, h=handler: h())
        self.gallery.selection_changed.connect(self._on_gallery)

    def _all_styles(self) -> list[Style]:
        styles = self.library.all()
        names = {s.name for s in styles}
        return styles + [s for s in self.extra_styles if s.name not in names]

    def _apply_state(self) -> None:
        """Put the remembered (or command-line) state into the widgets and the engine."""
        s = self.state
        self.controls.apply_state(s, self.pipeline.auto_target_fps)
        self._show_model()
        self.pipeline.stabilize = s.stabilize
        self.view.set_mode(s.view)
        self.pipeline.mirror = s.mirror
        self.gallery.set_styles(self._all_styles())
        names = [n for n in s.styles if self.gallery.style(n) is not None]
        if not names and self.gallery.names():
            names = self.gallery.names()[:1]
        weights = s.weights if len(s.weights) == len(names) else []
        self.gallery.select(names, emit=False)
        self.controls.mix_panel.set_styles(names, weights)
        self.pipeline.set_size(s.size)
        self._apply_styles(names, weights, alpha=s.alpha, color=s.color, palette=s.palette)
        if s.geometry:
            self.restore_geometry(s.geometry)
        if not names:
            self.say("No styles yet: drop an image on the window, or use Add style...", 0)

    # ------------------------------------------------------------------ the display loop

    def poll_frame(self) -> None:
        """Show the newest result if there is one (never waits)."""
        result = self.pipeline.read(self._seq, timeout=0)
        if result is None:
            return
        self.results_seen += result.seq - self._seq if self._seq else 1
        self._seq = result.seq
        self.view.set_frames(result.rgb, result.source.rgb)
        self._shown.append(time.monotonic())
        if self.stack.currentWidget() is not self.view:
            self.stack.setCurrentWidget(self.view)
        if self.frames_limit is not None and self.results_seen >= self.frames_limit and not self._closing:
            self.close()

    @property
    def display_fps(self) -> float:
        t = list(self._shown)
        if len(t) < 2 or time.monotonic() - t[-1] > 2.0:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0]) if t[-1] > t[0] else 0.0

    def refresh_status(self) -> None:
        """Overlay figures, source status, message page, recording state, finished jobs."""
        self._check_pending()
        stats = self.pipeline.stats()
        self._refresh_source(stats.capture)
        self._refresh_overlay(stats.engine, stats.capture)
        self._refresh_recording(stats.recording)
        self._refresh_virtual_camera(stats.virtual_camera)
        self.view.update()

    def _refresh_source(self, capst: CaptureStats | None) -> None:
        """The message page when there is no picture to show (why, and what to do), else the video."""
        cap = self.pipeline.capture
        if self.pipeline.source is None:
            self._show_message("No video source", self._source_error or "Choose a camera, a video or an image.")
        elif cap is None:
            pass  # not started yet
        elif capst is not None and capst.frames == 0 and capst.state == "retrying":
            if isinstance(cap.source, CameraSource):
                self._show_message("No camera found", f"{capst.status}.\nOpen a video or an image instead, "
                                   "or plug a camera in: it is picked up as soon as it appears.")
            else:
                self._show_message(f"Cannot open {cap.source.name}", f"{capst.status}.")
        elif self.stack.currentWidget() is not self.view:
            self.stack.setCurrentWidget(self.view)
        if capst is not None:
            self.view.banner = capst.status if capst.state == "retrying" and capst.frames > 0 else ""
            self.view.placeholder = "Connecting..." if capst.state == "connecting" else "Waiting for the engine..."
            self.source_label.setText(capst.status)

    def _refresh_overlay(self, eng: WorkerStats, capst: CaptureStats | None) -> None:
        """The size status under the controls, and the figures over the video when the overlay is on."""
        self.controls.show_size_status(self.pipeline.settings.size, eng.fps, self.pipeline.target_fps)
        if not self.controls.overlay_check.isChecked():
            self.view.overlay_lines = []
            return
        size = self.pipeline.settings.size
        auto = self.pipeline.target_fps
        device = f"{self.model or '?'} model, {getattr(self.pipeline.stylizer, 'description', '?')}"
        self.view.overlay_lines = [
            f"display {self.display_fps:4.1f} fps   engine {eng.fps:4.1f} fps",
            f"latency {eng.latency_ms:4.0f} ms   engine {eng.engine_ms:4.0f} ms/frame",
            f"processing {size or 'full'}{' px' if size else ''}"
            f"{f' (auto: {eng.fps:.1f} of {auto:g} fps)' if auto else ''}   {device}",
            f"captured {capst.fps if capst else 0:4.1f} fps   skipped {eng.skipped}   errors {eng.errors}",
        ]

    def _refresh_recording(self, rec: RecordingStats | None) -> None:
        """The REC line over the video; a recording that failed is stopped and says why."""
        if rec is None:
            self.view.recording_text = ""
        elif rec.error:
            self.stop_recording()
            self.say(f"Recording stopped: {rec.error}", 0)
        else:
            secs = int(time.monotonic() - self._rec_started)
            dropped = f"  {rec.frames_dropped} dropped" if rec.frames_dropped else ""
            self.view.recording_text = f"REC {secs // 60:02d}:{secs % 60:02d}  {rec.frames_written} frames{dropped}"

    def _refresh_virtual_camera(self, cam: VirtualCameraStats | None) -> None:
        """A virtual camera that failed is switched off and says why."""
        if cam is not None and cam.error:
            self.set_virtual_camera(False)
            self.say(cam.error[:1].upper() + cam.error[1:], 0)

    def _show_message(self, title: str, detail: str) -> None:
        self.message.show_problem(title, detail)
        if self.stack.currentWidget() is not self.message:
            self.stack.setCurrentWidget(self.message)

    def say(self, text: str, ms: int = 6000) -> None:
        self.statusBar().showMessage(text, ms)

    def _check_pending(self) -> None:
        still = []
        for fut, done, what, failed in self._pending:
            if not fut.done():
                still.append((fut, done, what, failed))
                continue
            try:
                done(fut.result())
                continue
            except UserError as exc:
                self.say(f"{what}: {exc}", 0)
            except Exception as exc:
                log.exception("%s failed", what)
                self.say(f"{what}: {type(exc).__name__}: {exc}", 0)
            if failed is not None:
                failed()
        self._pending = still

    # ------------------------------------------------------------------ styles

    def _on_gallery(self, names: list[str]) -> None:
        weights = self.state.weights if len(self.state.weights) == len(names) and names == self.state.styles else []
        self.controls.mix_panel.set_styles(names, weights)
        self._apply_styles(names, self.controls.mix_panel.weights() if len(names) > 1 else [])

    def _on_weights(self, weights: list[float]) -> None:
        self._apply_styles(self.gallery.selected_names(), weights)

    def _apply_styles(self, names: list[str], weights: list[float], **changes: object) -> None:
        styles = [self.gallery.style(n) for n in names]
        styles = [s for s in styles if s is not None]
        if not styles:
            if changes:
                self.pipeline.update(**changes)
            return
        self.state.styles = [s.name for s in styles]
        self.state.weights = list(weights) if len(styles) > 1 else []
        label = " + ".join(s.name.replace("_", " ") for s in styles)
        fut = self.pipeline.select_styles(styles, self.state.weights, **changes)
        if not fut.done():
            self.say(f"Preparing {label}...", 0)

        def done(_settings: object) -> None:
            self.setWindowTitle(f"AdaIN Live - {label}")
            self.say(f"Style: {label}", 3000)

        self._pending.append((fut, done, f"Style {label}", None))

    def select_styles(self, names: list[str]) -> None:
        """Use ``names`` (one style, or several mixed with equal weights)."""
        self.gallery.select(names)

    def step_style(self, delta: int) -> None:
        self.gallery.step(delta)

    def mix_styles(self, names: list[str], weights: list[float]) -> None:
        """Use ``names`` mixed by ``weights`` (one weight per name), as Ctrl+click and the mix sliders do."""
        self.gallery.select(names, emit=False)
        names = self.gallery.selected_names()
        weights = list(weights) if len(weights) == len(names) and len(names) > 1 else []
        self.controls.mix_panel.set_styles(names, weights)
        self._apply_styles(names, weights)

    def add_style_files(self, paths: list[Path]) -> list[Style]:
        """Copy images into the user styles folder (kept for next time) and use the last one."""
        added: list[Style] = []
        for path in paths:
            try:
                added.append(self.library.add(Path(path)))
            except UserError as exc:
                self.say(str(exc), 0)
        if added:
            self.gallery.set_styles(self._all_styles())
            self.gallery.select([added[-1].name])
            self.say(f"Added style {added[-1].name} (kept in {self.library.user_dir})")
        return added

    def capture_style(self) -> Style | None:
        """C, the button and OSC /style/capture: the middle of the newest source frame (not the
        stylized picture) becomes a style in the user's folder, joins the gallery and is used at
        once; its statistics are computed and cached like any style's (see app.live.style_capture).
        No frame yet, or a folder that cannot be written, is said in the status bar."""
        try:
            path, _rgb = capture_style(self.pipeline.feed.peek(), self.library.user_dir, WINDOW_PREFIX)
        except UserError as exc:
            self.say(_sentence(str(exc)), 0)
            return None
        self.gallery.set_styles(self._all_styles())
        style = self.gallery.style(path.stem)
        if style is None:  # pragma: no cover - the file was just written there
            self.say(f"{path}: the new style is not in the styles folder", 0)
            return None
        self.gallery.select([style.name])  # through _on_gallery, like a click: mix panel, engine
        self.say(f"New style {style.name} from the camera (kept in {self.library.user_dir})")
        return style

    def add_style_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Add style images", str(Path.home()),
                                                f"Images ({patterns});;All files (*)")
        self.add_style_files([Path(p) for p in paths])

    def remove_style(self, name: str) -> None:
        try:
            self.library.remove(name)
        except UserError as exc:
            self.say(str(exc), 0)
            return
        selected = [n for n in self.gallery.selected_names() if n != name]
        self.gallery.set_styles(self._all_styles())
        if not selected and self.gallery.names():
            selected = self.gallery.names()[:1]
        self.gallery.select(selected)
        self.say(f"Removed style {name}")

    def remove_selected_style(self) -> None:
        user = [n for n in self.gallery.selected_names()
                if (s := self.gallery.style(n)) is not None and not s.builtin and s in self.library.all()]
        if not user:
            self.say("Select one of your own styles to remove it (built-in styles stay).")
            return
        answer = QMessageBox.question(self, "Remove style", f"Remove the style {user[0]!r} from your styles folder?")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_style(user[0])

    # ------------------------------------------------------------------ settings

    def _on_alpha(self, alpha: float) -> None:
        self.state.alpha = alpha
        self._update(alpha=alpha)

    def _on_stabilize(self, strength: float) -> None:
        self.state.stabilize = strength
        self.pipeline.stabilize = strength  # the worker swaps its stabiliser between two frames

    def _on_palette(self, strength: float) -> None:
        self.state.palette = strength
        self._update(palette=strength)

    def set_alpha(self, alpha: float) -> None:
        self.controls.set_alpha(alpha)  # the slider's signal applies it

    def set_palette(self, strength: float) -> None:
        self.controls.set_palette(strength)  # the slider's signal applies it

    def set_color(self, mode: str) -> None:
        if self.controls.color_combo.currentData() != mode:
            self.controls.set_combo(self.controls.color_combo, mode)  # re-enters through the signal
            return
        self.state.color = mode
        self.controls.palette_slider.setEnabled(mode == "none")  # keeping the camera's colours: no pull
        self._update(color=mode)

    def set_size(self, size: SizeChoice) -> None:
        if self.controls.size_combo.currentData() != size:
            self.controls.set_combo(self.controls.size_combo, size)
            return
        self.state.size = size
        try:
            self.pipeline.set_size(size)
        except UserError as exc:
            self.say(str(exc), 0)

    @property
    def model(self) -> str | None:
        """The model that runs now: 'full' or 'fast' (None: an engine that does not say)."""
        return getattr(self.pipeline.stylizer, "model", None)

    def set_model(self, model: str) -> None:
        """Switch to the full or the fast model while the video runs: the new one is built off the UI
        thread and takes over between two frames, with the current styles (LivePipeline.switch_stylizer);
        the size governor starts over. A model that cannot be had is said, and the old one stays."""
        if self.controls.model_combo.currentData() != model:
            self.controls.set_combo(self.controls.model_combo, model)  # re-enters through the signal
            return
        make = self._make_stylizer
        if model == self.model or make is None or self._switching:
            self._show_model()
            return
        if model == "fast" and self._fast_missing:
            self.say(_sentence(self._fast_missing), 0)
            self._show_model()
            return
        self._switching = True
        self.controls.model_combo.setEnabled(False)
        self.say(f"Loading the {model} model (the video goes on)...", 0)
        fut = self.pipeline.switch_stylizer(lambda: make(model))

        def switched(_stylizer: object) -> None:
            self.state.model = model
            self._switching = False
            self._show_model()
            self.say(f"Model: {MODEL_NAMES.get(model, model)}", 4000)

        def failed() -> None:
            self._switching = False
            self._show_model()

        self._pending.append((fut, switched, f"{model.capitalize()} model", failed))

    def _show_model(self) -> None:
        """The running model in the controls and the status line."""
        model = self.model
        fixed = FIXED_MODEL if self._make_stylizer is None else None
        self.controls.show_model(model, self._fast_missing, fixed)
        if self.state.palette is None and model in PALETTE_DEFAULTS:  # untouched: the model's own
            self.controls.show_palette(PALETTE_DEFAULTS[model])
        self.model_label.setText(f"Model: {MODEL_NAMES.get(model or '', model or '?')}")

    def _update(self, **changes: object) -> None:
        try:
            self.pipeline.update(**changes)
        except UserError as exc:
            self.say(str(exc), 0)

    def set_view(self, mode: str) -> None:
        if self.controls.view_combo.currentData() != mode:
            self.controls.set_combo(self.controls.view_combo, mode)
            return
        self.state.view = mode
        self.view.set_mode(mode)

    def set_mirror(self, on: bool) -> None:
        if self.controls.mirror_check.isChecked() != on:
            self.controls.mirror_check.setChecked(on)
            return
        self.state.mirror = on
        self.pipeline.mirror = on

    def set_overlay(self, on: bool) -> None:
        if self.controls.overlay_check.isChecked() != on:
            self.controls.overlay_check.setChecked(on)
            return
        self.state.overlay = on
        self.refresh_status()

    # ------------------------------------------------------------------ source

    def set_source_spec(self, spec: str) -> bool:
        """Switch to a camera index, file, URL or 'demo'; a bad one is shown, not raised."""
        try:
            source = open_source(spec, self.camera_size)
        except UserError as exc:
            self._source_error = str(exc)
            self._show_message("Cannot open that source", str(exc))
            return False
        self._source_error = ""
        self.pipeline.set_source(source)
        self.view.clear()
        self.view.placeholder = "Connecting..."
        self.stack.setCurrentWidget(self.view)
        self.state.source = describe_spec(source)
        self.say(f"Source: {source.name}")
        return True

    def open_video_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", str(Path.home()),
                                              f"Videos ({patterns});;All files (*)")
        if path:
            self.set_source_spec(path)

    def open_image_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", str(Path.home()),
                                              f"Images ({patterns});;All files (*)")
        if path:
            self.set_source_spec(path)

    def pause(self) -> None:
        """Stop reading the source (a camera is released); the last picture stays on screen."""
        self.pipeline.pause_capture()
        self.say("Paused", 0)

    def resume(self) -> None:
        self.pipeline.resume_capture()
        self.say("Resumed")

    # ------------------------------------------------------------------ record, snapshot

    def start_recording(self, path: Path | None = None) -> Path | None:
        try:
            out = self.pipeline.start_recording(path)
        except UserError as exc:
            self.say(str(exc), 0)
            self.controls.record_button.setChecked(False)
            return None
        self._rec_started = time.monotonic()
        self.controls.record_button.setChecked(True)
        self.controls.record_button.setText("Stop")
        self.say(f"Recording to {out}", 0)
        self.refresh_status()
        return out

    def stop_recording(self):
        rec = self.pipeline.stop_recording()
        self.controls.record_button.setChecked(False)
        self.controls.record_button.setText("Record")
        self.view.recording_text = ""
        if rec is not None:
            dropped = f", {rec.frames_dropped} dropped" if rec.frames_dropped else ""
            problem = f" (error: {rec.error})" if rec.error else ""
            self.say(f"Saved {rec.frames_written} frames at {rec.fps:.1f} fps{dropped} to {rec.path}{problem}", 0)
        return rec

    def toggle_record(self):
        if self.pipeline.recording:
            return self.stop_recording()
        return self.start_recording()

    def snapshot(self) -> Path | None:
        try:
            path = self.pipeline.snapshot()
        except UserError as exc:
            self.say(str(exc))
            return None
        self.say(f"Saved snapshot {path}")
        return path

    def set_virtual_camera(self, on: bool) -> None:
        """Start or stop sending the stylized video to a virtual camera; a problem is said, not raised."""
        button = self.controls.virtual_camera_button
        if not on:
            stats = self.pipeline.stop_virtual_camera()
            button.setChecked(False)
            if stats is not None and not stats.error:
                self.say(f"Virtual camera off ({stats.sent} frames sent)")
            return
        self.pipeline.start_virtual_camera()  # a missing package or device is reported by refresh_status
        button.setChecked(True)
        self.say("Virtual camera on: pick it as the webcam in your video-call app")

    def start_remote(self, port: int, host: str = DEFAULT_HOST) -> OscServer:
        """Listen for OSC commands (see app.live.remote); UserError when the port cannot be had."""
        if self.osc is None:
            remote = WindowRemote(self)
            self.osc = OscServer(remote, port, host, post=remote.post).start()
        return self.osc

    # ------------------------------------------------------------------ window modes

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.leave_fullscreen()
            return
        self.controls_scroll.hide()
        self.gallery.hide()
        self.statusBar().hide()
        self.showFullScreen()

    def leave_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        self.controls_scroll.show()
        self.gallery.show()
        self.statusBar().show()

    def show_help(self) -> None:
        if self._help is None:
            self._help = HotkeysDialog(self)
        self._help.show()
        self._help.raise_()

    # ------------------------------------------------------------------ events

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        once = not event.isAutoRepeat()
        k = Qt.Key
        if key == k.Key_Space and once:
            self.toggle_record()
        elif key == k.Key_S and once:
            self.snapshot()
        elif key == k.Key_C and once:
            self.capture_style()
        elif key == k.Key_V and once:
            self.set_virtual_camera(not self.controls.virtual_camera_button.isChecked())
        elif key == k.Key_Left:
            self.step_style(-1)
        elif key == k.Key_Right:
            self.step_style(+1)
        elif key == k.Key_Up:
            self.set_alpha(self.controls.alpha + ALPHA_STEP)
        elif key == k.Key_Down:
            self.set_alpha(self.controls.alpha - ALPHA_STEP)
        elif key == k.Key_F and once:
            self.toggle_fullscreen()
        elif key == k.Key_Escape:
            self.leave_fullscreen()
        elif key == k.Key_O and once:
            self.set_overlay(not self.controls.overlay_check.isChecked())
        elif key == k.Key_M and once:
            self.set_mirror(not self.controls.mirror_check.isChecked())
        elif key in (k.Key_H, k.Key_Question) and once:
            self.show_help()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_images(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _dropped_images(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _dropped_images(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_style_files(paths)

    def current_state(self) -> UiState:
        s = self.state
        if not self.isFullScreen():
            s.geometry = base64.b64encode(bytes(self.saveGeometry())).decode("ascii")
        return s

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        if self.osc is not None:
            self.osc.stop()
        self._frame_timer.stop()
        self._stats_timer.stop()
        if self.save_on_close:
            save_state(self.current_state())
        rec = self.pipeline.stop()  # finalises a recording in progress
        if rec is not None:
            log.info("recording finished: %d frames to %s", rec.frames_written, rec.path)
        self.last_recording = rec
        self.gallery.shutdown()
        if self._help is not None:
            self._help.close()
        super().closeEvent(event)
        self.closed.emit()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dropped_images(mime) -> list[Path]:
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and is_image_path(Path(u.toLocalFile()))]
