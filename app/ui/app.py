"""Starting the window: Qt application, theme, remembered state merged with the command line."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

from app import APP_NAME
from app.live.sources import describe_spec, open_source
from app.errors import UserError
from app.live.pipeline import LiveOptions, LivePipeline
from app.styles import Style, StyleLibrary
from app.ui.state import UiState, load_state
from app.ui.window import MainWindow
from app.live.worker import StylizerLike
from app.weights import fast_model_missing

ModelFactory = Callable[[str], StylizerLike]  # 'full', 'fast' or 'auto' -> a stylizer running that model

log = logging.getLogger(__name__)
SIGNAL_WAKE_MS = 100  # how soon Ctrl+C in the terminal is noticed


_app: QApplication | None = None  # PyQt destroys a QApplication with its last Python reference: this is kept


def application() -> QApplication:
    """The QApplication (created once and kept for the process's life, so a caller may drop the
    return value), with the app's dark theme."""
    global _app
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else APP_NAME])
        app.setApplicationName("AdaIN Live")
        app.setOrganizationName(APP_NAME)
        _app = app
    apply_theme(app)
    return app


def apply_theme(app: QApplication) -> None:
    """Fusion with a dark palette: the video is the bright thing on screen."""
    app.setStyle("Fusion")
    pal = QPalette()
    role = QPalette.ColorRole
    for r, c in ((role.Window, (37, 37, 40)), (role.WindowText, (225, 225, 228)), (role.Base, (52, 52, 57)),
                 (role.AlternateBase, (60, 60, 65)), (role.ToolTipBase, (50, 50, 54)),
                 (role.Light, (90, 90, 96)), (role.Midlight, (70, 70, 76)), (role.Mid, (48, 48, 52)),
                 (role.Dark, (24, 24, 26)), (role.Shadow, (10, 10, 12)),
                 (role.ToolTipText, (235, 235, 235)), (role.Text, (225, 225, 228)), (role.Button, (52, 52, 57)),
                 (role.ButtonText, (230, 230, 232)), (role.Highlight, (62, 120, 200)),
                 (role.HighlightedText, (255, 255, 255)), (role.PlaceholderText, (130, 130, 135))):
        pal.setColor(r, QColor(*c))
    pal.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(120, 120, 120))
    pal.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(120, 120, 120))
    app.setPalette(pal)


def merge_state(state: UiState, opts: LiveOptions, library: StyleLibrary) -> tuple[UiState, list[Style]]:
    """Command-line values override remembered ones. Returns the state and any --style images
    that are not in the library (shown in the gallery for this run only)."""
    extra: list[Style] = []
    if opts.styles:
        known = set(library.names())
        resolved = [library.resolve(s) for s in opts.styles]  # UserError for unknown names
        extra = [s for s in resolved if s.name not in known]
        state.styles = [s.name for s in resolved]
        state.weights = list(opts.mix)
    if opts.alpha is not None:
        state.alpha = opts.alpha
    if opts.stabilize is not None:
        state.stabilize = opts.stabilize
    if opts.color is not None:
        state.color = opts.color
    if opts.palette is not None:
        state.palette = opts.palette
    if opts.size is not None:
        state.size = opts.size
    if opts.mirror:
        state.mirror = True
    if opts.source is not None:
        state.source = opts.source
    elif state.source and not state.source.isdigit() and "://" not in state.source and state.source != "demo" \
            and not Path(state.source).exists():
        state.source = None  # the remembered file is gone: back to the camera
    return state, extra


def model_choice(state: UiState, opts: LiveOptions) -> str:
    """--model, else the remembered choice; a remembered 'fast' whose files are gone falls back to
    'auto' (like a remembered video file that is gone): only --model fast stops with the reason."""
    if opts.model is not None:
        return opts.model
    return "auto" if state.model == "fast" and fast_model_missing() else state.model


def build_window(stylizer: StylizerLike, opts: LiveOptions, library: StyleLibrary | None = None,
                 state: UiState | None = None, save_on_close: bool = True,
                 make_stylizer: ModelFactory | None = None) -> MainWindow:
    """The window on a started pipeline (also used by scripts/screenshot.py). ``make_stylizer``
    builds another model when the user switches (None: the model cannot be switched)."""
    application()
    library = library or StyleLibrary()
    state, extra = merge_state(state or load_state(), opts, library)
    error = ""
    try:
        source = open_source(state.source, opts.camera_size)
        state.source = describe_spec(source)
    except UserError as exc:  # shown in the window, with buttons to pick something else
        source, error = None, str(exc)
    pipeline = LivePipeline(stylizer, source, mirror=state.mirror, skip_repeats=True)
    pipeline.auto_target_fps = opts.target_fps
    window = MainWindow(pipeline, library, state, extra_styles=extra, source_error=error,
                        frames_limit=opts.frames, save_on_close=save_on_close, camera_size=opts.camera_size,
                        make_stylizer=make_stylizer)
    pipeline.start()
    if opts.record is not None:
        window.start_recording(opts.record)
    if opts.virtual_camera:
        window.set_virtual_camera(True)
    if opts.osc_port is not None:
        try:
            window.start_remote(opts.osc_port, opts.osc_host)
        except UserError:
            window.close()  # stops the pipeline's threads before the one-line error
            raise
    return window


def run_window(make_stylizer: ModelFactory, opts: LiveOptions, switchable: bool = True) -> int:
    """The window with the model chosen on the command line or remembered; ``switchable``: the user
    may switch it (not when --student, --vgg or --decoder named the files)."""
    state = load_state()
    state.model = model_choice(state, opts)
    stylizer = make_stylizer(state.model)
    window = build_window(stylizer, opts, state=state, make_stylizer=make_stylizer if switchable else None)
    window.show()
    return exec_until_closed(window)


def exec_until_closed(window: MainWindow) -> int:
    """Run Qt's event loop until ``window`` has closed. SIGINT (Ctrl+C in the terminal) and SIGTERM
    close it the way Ctrl+Q does, so a recording in progress is finished.

    Python runs signal handlers only between its own bytecodes, and Qt's loop runs none while
    nothing happens: a short timer hands control back to Python so the handler gets its turn."""
    loop = QEventLoop()
    window.closed.connect(loop.quit)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(SIGNAL_WAKE_MS)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s: closing the window", signal.Signals(signum).name)
        QTimer.singleShot(0, window.close)  # from the event loop, not from inside whatever was running

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if window.isVisible():
            loop.exec()
    finally:
        wake.stop()
        window.closed.disconnect(loop.quit)
        for sig, old in previous.items():
            signal.signal(sig, old)
    return 0
