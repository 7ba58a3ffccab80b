"""The live window (pytest-qt, offscreen): it plays a video file, and every control changes
the frames that follow; drop-to-add, record, snapshot, hotkeys, no-camera page, memory."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time


import numpy as np
import pytest
from PyQt6.QtCore import QMimeData, QPoint, QPointF, QRect, QSize, Qt, QTimer, QUrl
from PyQt6.QtGui import QDropEvent

from app.live.adaptive import PRESETS
from app.live.pipeline import LiveOptions, LivePipeline
from app.live.sources import FileSource
from app.paths import pictures_dir, videos_dir
from app.rules import PALETTE_DEFAULTS
from app.styles import StyleLibrary
from app.ui.app import build_window, exec_until_closed
from app.ui.help import QUIT_KEY, hotkeys_html
from app.ui.state import UiState, load_state, state_path
from app.ui.window import MainWindow
from app.video_io import probe_frames
from conftest import REPO, TEST_THREADS
from live_fixtures import FAST_BACKOFF, MEDIA, VIDEO, ScriptedSource, library, style_dir, tiny_stylizer  # noqa: F401

pytestmark = pytest.mark.usefixtures("media")  # the shared media, or one clear sentence

TIMEOUT_MS = 60_000


@pytest.fixture
def make_window(qtbot, tiny_stylizer, library):
    """Factory: the window on a started pipeline (a video file unless told otherwise)."""
    made: list[MainWindow] = []

    def make(source=None, state: UiState | None = None) -> MainWindow:
        pipeline = LivePipeline(tiny_stylizer, FileSource(VIDEO) if source is None else source,
                                skip_repeats=True, backoff=FAST_BACKOFF)
        window = MainWindow(pipeline, library, state or UiState(styles=library.names()[:1], size=64, stabilize=0.0),
                            save_on_close=False)
        qtbot.addWidget(window)
        pipeline.start()
        window.resize(900, 600)
        window.show()
        made.append(window)
        return window

    yield make
    for w in made:
        w.close()  # stops the pipeline threads


def next_result(qtbot, window: MainWindow, where=lambda r: True):
    """The first result published after now that satisfies ``where`` (the UI keeps running)."""
    after = window.pipeline.latest().seq if window.pipeline.latest() else 0
    found = []

    def check() -> bool:
        r = window.pipeline.latest()
        if r is not None and r.seq > after and where(r):
            found.append(r)
            return True
        return False

    qtbot.waitUntil(check, timeout=TIMEOUT_MS)
    return found[0]


def restylize(window: MainWindow, result, settings):
    """What ``result``'s own frame would look like with other settings (run on the engine thread)."""
    return window.pipeline.worker.submit(lambda s: s.stylize(result.source.rgb, settings)).result(60)


def differs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b).mean())


def changed_by_settings(window: MainWindow, result, old_settings) -> float:
    """How far ``result`` is from its own frame under ``old_settings``; the engine being
    deterministic, any difference is the settings' doing (checked by a re-run)."""
    assert np.array_equal(restylize(window, result, result.settings), result.rgb)
    return differs(result.rgb, restylize(window, result, old_settings))


def test_window_plays_the_video_stylized(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.results_seen >= 2, timeout=TIMEOUT_MS)
    assert window.stack.currentWidget() is window.view and window.view.has_frame
    result = window.pipeline.latest()
    assert result.stylized and result.rgb.shape == (360, 640, 3)
    shot = window.view.grab().toImage()
    centre = shot.pixelColor(shot.width() // 2, shot.height() // 2)
    corner = shot.pixelColor(2, 2)  # letterbox bar above the 16:9 picture
    assert (centre.red(), centre.green(), centre.blue()) != (corner.red(), corner.green(), corner.blue())
    assert window.pipeline.source.fps == 24.0


def test_clicking_another_style_changes_the_following_frames(qtbot, make_window):
    window = make_window()
    first = next_result(qtbot, window)
    item = window.gallery.item(1)
    qtbot.mouseClick(window.gallery.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.gallery.visualItemRect(item).center())
    assert window.gallery.selected_names() == [item.data(Qt.ItemDataRole.UserRole)]
    after = next_result(qtbot, window, lambda r: r.settings.styles != first.settings.styles)
    assert changed_by_settings(window, after, first.settings) > 0.5
    assert window.pipeline.styles[0].name == window.gallery.selected_names()[0]


def test_alpha_slider_changes_the_following_frames(qtbot, make_window):
    window = make_window()
    first = next_result(qtbot, window)
    assert first.settings.alpha == 1.0
    window.controls.alpha_slider.setValue(0)
    assert window.controls.alpha_label.text().endswith("0.00")
    after = next_result(qtbot, window, lambda r: r.settings.alpha == 0.0)
    assert changed_by_settings(window, after, first.settings) > 0.5


def test_the_palette_slider_starts_at_the_models_default_and_changes_the_following_frames(qtbot, make_window):
    window = make_window()
    first = next_result(qtbot, window)
    c = window.controls
    assert first.settings.palette is None and window.state.palette is None  # untouched: the model's own
    assert c.palette_slider.value() == round(100 * PALETTE_DEFAULTS[window.model])
    c.palette_slider.setValue(100)
    assert c.palette_label.text().endswith("1.00") and window.state.palette == 1.0
    after = next_result(qtbot, window, lambda r: r.settings.palette == 1.0)
    assert changed_by_settings(window, after, first.settings) > 0.5


def test_colour_mode_changes_the_following_frames(qtbot, make_window):
    window = make_window()
    first = next_result(qtbot, window)
    combo = window.controls.color_combo
    combo.setCurrentIndex(combo.findData("luminance"))
    after = next_result(qtbot, window, lambda r: r.settings.color == "luminance")
    assert changed_by_settings(window, after, first.settings) > 0.5
    assert not window.controls.palette_slider.isEnabled()  # the camera's colours kept: nothing to pull
    combo.setCurrentIndex(combo.findData("none"))
    assert window.controls.palette_slider.isEnabled()


def test_two_styles_blend_with_the_mix_slider(qtbot, make_window):
    window = make_window()
    names = window.gallery.names()
    window.select_styles(names[:2])
    assert window.controls.mix_panel.isVisible()
    mixed = next_result(qtbot, window, lambda r: len(r.settings.styles) == 2)
    window.controls.mix_panel.blend_slider.setValue(90)
    heavy_b = next_result(qtbot, window, lambda r: r.settings.weights and r.settings.weights[1] > 0.85)
    assert heavy_b.settings.weights == pytest.approx((0.1, 0.9))
    assert changed_by_settings(window, heavy_b, mixed.settings) > 0.2


def test_dropping_an_image_adds_a_style_kept_for_next_time(qtbot, make_window, library):
    window = make_window()
    new = MEDIA / "style" / "trial.jpg"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(new))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert event.isAccepted()
    assert (library.user_dir / "trial.jpg").is_file()
    assert "trial" in StyleLibrary(library.builtin_dir, library.user_dir).names()  # still there next run
    assert window.gallery.selected_names() == ["trial"]
    next_result(qtbot, window, lambda r: window.pipeline.styles and window.pipeline.styles[0].name == "trial")
    window.remove_style("trial")
    assert not (library.user_dir / "trial.jpg").exists() and "trial" not in window.gallery.names()


def test_space_records_the_stylized_stream(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.results_seen >= 1, timeout=TIMEOUT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    rec = window.pipeline.recorder
    assert rec is not None and rec.path.parent == videos_dir()
    assert window.controls.record_button.isChecked()
    qtbot.waitUntil(lambda: rec.stats().frames_written >= 4, timeout=TIMEOUT_MS)
    window.refresh_status()
    assert window.view.recording_text.startswith("REC")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.pipeline.recorder is None and not window.controls.record_button.isChecked()
    stats = rec.stats()
    assert stats.finished and stats.frames_written >= 4
    assert probe_frames(rec.path) == (stats.frames_written, 640, 360)


def test_hotkeys(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.results_seen >= 1, timeout=TIMEOUT_MS)
    names = window.gallery.names()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.gallery.selected_names() == [names[1]]
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.gallery.selected_names() == [names[-1]]  # wraps around
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert window.pipeline.settings.alpha == pytest.approx(0.95)
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.pipeline.settings.alpha == pytest.approx(1.0)
    qtbot.keyClick(window, Qt.Key.Key_O)
    window.refresh_status()
    assert window.view.overlay_lines and "fps" in window.view.overlay_lines[0]
    assert any("64 px" in line for line in window.view.overlay_lines)
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.pipeline.capture.mirror and window.controls.mirror_check.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: any(pictures_dir().glob("*.png")), timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert window._help is not None and window._help.isVisible()
    window._help.close()
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert window.isFullScreen() and not window.controls.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.isFullScreen() and window.controls.isVisible()


def test_no_source_shows_a_message_with_ways_out(qtbot, make_window):
    window = make_window(source=ScriptedSource(first_open_fails=10**6))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.message, timeout=10_000)
    assert "not there yet" in window.message.detail.text()
    assert window.message.open_video_button.isVisible() and window.message.demo_button.isVisible()
    qtbot.mouseClick(window.message.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.view and window.results_seen >= 1,
                    timeout=TIMEOUT_MS)
    assert window.pipeline.latest().rgb.shape == (360, 640, 3)  # the built-in demo
    assert window.state.source == "demo"


def test_a_bad_source_on_the_command_line_is_shown_in_the_window(qtbot, tiny_stylizer, library, tmp_path):
    window = build_window(tiny_stylizer, LiveOptions(source=str(tmp_path / "gone.mp4")), library,
                          UiState(styles=library.names()[:1], size=64, stabilize=0.0), save_on_close=False)
    qtbot.addWidget(window)
    try:
        window.refresh_status()
        assert window.stack.currentWidget() is window.message
        assert "gone.mp4: no such file" in window.message.detail.text()
    finally:
        window.close()


def test_style_alpha_source_and_geometry_persist(qtbot, tiny_stylizer, library):
    opts = LiveOptions(source=str(VIDEO))
    window = build_window(tiny_stylizer, opts, library, UiState(size=64, stabilize=0.0))
    qtbot.addWidget(window)
    window.show()
    names = window.gallery.names()
    window.select_styles([names[2]])
    window.set_alpha(0.4)
    window.controls.palette_slider.setValue(30)
    fit, screen = window.panel_fit_size(), window.screen().availableGeometry().size()
    window.resize(min(fit.width() + 60, screen.width()), min(fit.height() + 10, screen.height() - 40))
    size = window.size()  # larger than the panel needs: kept as it is
    window.close()
    saved = load_state()
    assert state_path().is_file()
    assert saved.styles == [names[2]] and saved.alpha == pytest.approx(0.4) and saved.palette == pytest.approx(0.3)
    assert saved.source == str(VIDEO) and saved.geometry
    again = build_window(tiny_stylizer, LiveOptions(), library, save_on_close=False)
    qtbot.addWidget(again)
    try:
        assert again.gallery.selected_names() == [names[2]]
        assert again.controls.alpha == pytest.approx(0.4) and again.controls.palette_slider.value() == 30
        qtbot.waitUntil(lambda: again.pipeline.worker.settings.palette == 0.3, timeout=TIMEOUT_MS)
        assert isinstance(again.pipeline.source, FileSource)
        assert abs(again.width() - size.width()) <= 4 and abs(again.height() - size.height()) <= 4
    finally:
        again.close()


def test_steadiness_slider_sets_the_temporal_stabiliser(qtbot, make_window):
    """Deterministic pixel tests above run with stabilisation off; here the slider turns it on."""
    window = make_window()
    assert window.pipeline.stabilize == 0.0
    window.controls.stabilize_slider.setValue(60)
    assert window.pipeline.stabilize == pytest.approx(0.6)
    assert window.state.stabilize == pytest.approx(0.6)
    assert window.controls.stabilize_label.text().endswith("0.60")
    window.controls.stabilize_slider.setValue(0)
    assert window.pipeline.stabilize == 0.0


def test_a_lost_source_shows_a_retrying_banner_and_the_picture_comes_back(qtbot, make_window):
    source = ScriptedSource(frames_per_life=15, failed_opens=25, fps=50)  # ~1-2 s away, then back
    window = make_window(source)
    qtbot.waitUntil(lambda: window.view.has_frame, timeout=30_000)
    qtbot.waitUntil(lambda: "retrying" in window.view.banner, timeout=30_000)
    assert window.stack.currentWidget() is window.view  # the last picture stays, with the note
    qtbot.waitUntil(lambda: source.lives >= 2 and window.view.banner == "", timeout=30_000)
    processed = window.pipeline.stats().engine.processed
    qtbot.waitUntil(lambda: window.pipeline.stats().engine.processed > processed + 2, timeout=30_000)  # flowing again


def _record_a_few_frames(qtbot, window: MainWindow):
    qtbot.waitUntil(lambda: window.results_seen >= 1, timeout=TIMEOUT_MS)
    window.start_recording()
    rec = window.pipeline.recorder
    qtbot.waitUntil(lambda: rec.stats().frames_written >= 3, timeout=TIMEOUT_MS)
    return rec


def test_ctrl_q_quits_and_finishes_the_recording(qtbot, make_window):
    window = make_window()
    rec = _record_a_few_frames(qtbot, window)
    with qtbot.waitSignal(window.closed, timeout=TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()
    stats = rec.stats()
    assert stats.finished and probe_frames(rec.path) == (stats.frames_written, 640, 360)
    assert not window.pipeline.worker.alive


def test_the_key_list_shows_the_quit_key():
    assert f"<b>{QUIT_KEY}</b></td><td>quit" in hotkeys_html()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_in_the_terminal_closes_the_window_and_finishes_the_recording(qtbot, make_window, sig):
    window = make_window()
    rec = _record_a_few_frames(qtbot, window)
    before = signal.getsignal(sig)
    QTimer.singleShot(200, lambda: os.kill(os.getpid(), sig))
    started = time.monotonic()
    assert exec_until_closed(window) == 0  # returns once the window has closed
    assert time.monotonic() - started < 20
    assert not window.isVisible() and not window.pipeline.worker.alive
    stats = rec.stats()
    assert stats.finished and probe_frames(rec.path) == (stats.frames_written, 640, 360)
    assert signal.getsignal(sig) == before  # the terminal's Ctrl+C is Python's again afterwards


def test_the_default_window_shows_every_control_of_the_side_panel(qtbot, make_window):
    window = make_window()
    window.resize(window.default_size(QSize(1920, 1040)))  # a common desktop (offscreen's own screen is 800x800)
    qtbot.waitUntil(lambda: window.results_seen >= 1, timeout=TIMEOUT_MS)
    window.refresh_status()
    qtbot.wait(50)
    scroll, c = window.controls_scroll, window.controls
    assert scroll.verticalScrollBar().maximum() == 0  # nothing to scroll to
    viewport = scroll.viewport()
    for widget in (c.camera_button, c.size_combo, c.size_status, c.record_button, c.snapshot_button, c.help_button):
        assert viewport.rect().contains(QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())), widget
    assert c.size_combo.width() >= c.size_combo.sizeHint().width()  # its longest entry is not cut
    assert c.size_status.text() and c.size_status.width() >= c.size_status.sizeHint().width()
    assert window.width() <= 1920 and window.height() <= 1040
    window.select_styles(window.gallery.names()[:2])  # the mix panel appears: still nothing hidden
    qtbot.waitUntil(lambda: c.mix_panel.isVisible(), timeout=TIMEOUT_MS)
    qtbot.wait(50)
    assert scroll.verticalScrollBar().maximum() == 0
    for widget in (c.mix_panel, c.record_button, c.snapshot_button, c.help_button):
        assert viewport.rect().contains(QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())), widget


def test_on_a_small_screen_the_default_window_fits_the_screen_and_the_panel_scrolls(make_window):
    window = make_window()
    size = window.default_size(QSize(1024, 560))
    assert size.width() <= 1024 and size.height() <= 560 - 40


def test_a_remembered_size_too_small_for_the_panel_grows_to_show_it_on_the_screen(qtbot, tiny_stylizer, library):
    """A size saved by a version whose default (1066x666) cut the panel, or shrunk by hand."""
    old = build_window(tiny_stylizer, LiveOptions(source=str(VIDEO)), library, UiState(size=64, stabilize=0.0))
    qtbot.addWidget(old)
    old.show()
    old.resize(700, 480)
    old.move(300, 500)
    assert old.height() == 480  # the panel scrolls: the size an older version saved
    old.close()
    geometry = load_state().geometry
    window = build_window(tiny_stylizer, LiveOptions(), library, save_on_close=False)
    qtbot.addWidget(window)
    try:
        desktop = QRect(0, 0, 1920, 1040)  # a common desktop (offscreen's own screen is 800x800)
        window.restore_geometry(geometry, desktop)
        fit = window.panel_fit_size(desktop.size())
        assert window.height() > 480 and window.width() >= 700
        assert window.width() >= fit.width() and window.height() >= fit.height()
        assert desktop.contains(window.frameGeometry())  # grown, and moved up to stay on the screen
        window.show()
        qtbot.wait(50)
        scroll, c = window.controls_scroll, window.controls
        assert scroll.verticalScrollBar().maximum() == 0  # the whole panel, nothing to scroll to
        for widget in (c.record_button, c.snapshot_button, c.help_button, c.size_status):
            assert scroll.viewport().rect().contains(QRect(widget.mapTo(scroll.viewport(), QPoint(0, 0)),
                                                           widget.size())), widget
    finally:
        window.close()


def test_python_main_py_opens_the_window_and_it_closes_after_its_frames(primed_home, decoder_file):
    """The real entry point in a process of its own: in this one, pytest-qt's QApplication would hide
    a window built without one alive (it aborted with "Must construct a QApplication")."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ADAIN_LIVE_HOME": str(primed_home),
           "OMP_NUM_THREADS": str(TEST_THREADS)}
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "--source", str(VIDEO), "--frames", "3",
                           "--size", "64", "--decoder", str(decoder_file), "--precision", "fp32"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_state().source == str(VIDEO)  # saved when the window closed


def test_auto_size_names_its_target_and_shows_what_it_achieves(qtbot, make_window, library):
    """The entry says what auto aims at, never that it holds it; the status and the overlay show
    the size in use and the frame rate reached beside the target."""
    window = make_window(state=UiState(styles=library.names()[:1], size="auto", stabilize=0.0, overlay=True))
    c, target = window.controls, window.pipeline.auto_target_fps
    assert c.size_combo.currentText() == f"Auto: largest size for {target:g} fps"
    qtbot.waitUntil(lambda: window.pipeline.stats().engine.fps > 0, timeout=TIMEOUT_MS)
    window.refresh_status()
    status = re.fullmatch(rf"(\d+) px, (\d+\.\d) of {target:g} fps", c.size_status.text())
    assert status and int(status[1]) in PRESETS and float(status[2]) > 0, c.size_status.text()
    overlay = [re.search(rf"processing (\d+) px \(auto: (\d+\.\d) of {target:g} fps\)", line)
               for line in window.view.overlay_lines]
    assert any(m and int(m[1]) in PRESETS for m in overlay), window.view.overlay_lines
    window.set_size(64)
    window.refresh_status()
    assert re.fullmatch(r"64 px, \d+\.\d fps", c.size_status.text()), c.size_status.text()  # fixed: no target
