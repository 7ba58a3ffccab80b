"""Switching the model in the live window while the video runs (pytest-qt, offscreen): the new
model is built off the UI thread, takes over between two frames with the current styles, and
the frames keep coming; the fast entry is disabled, saying why, while its files are missing."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt loads

import numpy as np
import pytest
import torch

from app.engine import Stylizer
from app.live.pipeline import LivePipeline
from app.ui.state import UiState, load_state, save_state
from app.ui.window import MainWindow
from conftest import seeded_decoder
from live_fixtures import FAST_BACKOFF, ScriptedSource, library, style_dir  # noqa: F401
from test_model_choice import fast_missing, fast_shipped  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("media")  # the style images come from the shared media

TIMEOUT_MS = 120_000


def full_stylizer(folder) -> Stylizer:
    """The full model's networks (VGG-19's layout, a seeded decoder), random rather than converted:
    the window's switching is under test here, not the weights (tests/test_model_choice.py loads those)."""
    from models.vgg import Encoder, vgg_normalised

    torch.manual_seed(0)
    return Stylizer(Encoder(vgg_normalised()), seeded_decoder(), "cpu", torch.float32, stats_dir=folder / "stats",
                    style_size=64, model="full")


@pytest.fixture
def window_on(qtbot, library, tmp_path):
    """Factory: the window on a running scripted source, starting on the full model; ``make`` is the
    model factory the window switches with (as app.ui.app.run_window passes it)."""
    made: list[MainWindow] = []

    def start(make) -> MainWindow:
        pipeline = LivePipeline(full_stylizer(tmp_path), ScriptedSource(fps=30.0), skip_repeats=True,
                                backoff=FAST_BACKOFF)
        window = MainWindow(pipeline, library, UiState(styles=library.names()[:1], size=32, stabilize=0.0),
                            save_on_close=False, make_stylizer=make)
        qtbot.addWidget(window)
        pipeline.start()
        window.show()
        made.append(window)
        qtbot.waitUntil(lambda: window.results_seen >= 2, timeout=TIMEOUT_MS)
        return window

    yield start
    for w in made:
        w.close()


def test_the_window_switches_to_the_fast_model_and_the_frames_keep_coming(qtbot, window_on, fast_shipped, tmp_path):
    built: list[Stylizer] = []

    def make(model: str) -> Stylizer:
        built.append(Stylizer.create(device="cpu", precision="fp32", model=model) if model == "fast"
                     else full_stylizer(tmp_path))
        return built[-1]

    window = window_on(make)
    combo = window.controls.model_combo
    assert window.model == "full" and combo.currentData() == "full" and combo.isEnabled()
    assert "Full" in window.model_label.text()
    combo.setCurrentIndex(combo.findData("fast"))  # what picking "Fast" does
    qtbot.waitUntil(lambda: window.model == "fast" and combo.isEnabled(), timeout=TIMEOUT_MS)
    assert built and window.pipeline.stylizer is built[0] is window.pipeline.worker.stylizer
    assert window.state.model == "fast" and "Fast" in window.model_label.text()
    after = window.pipeline.latest().seq
    seen = window.results_seen
    qtbot.waitUntil(lambda: window.pipeline.latest().seq > after + 2 and window.results_seen > seen + 2,
                    timeout=TIMEOUT_MS)
    result = window.pipeline.latest()
    assert result.stylized and built[0].has_style(result.settings.styles[0])  # the style, for the new encoder
    again = window.pipeline.worker.submit(lambda s: s.stylize(result.source.rgb, result.settings)).result(60)
    assert np.array_equal(again, result.rgb)  # the fast model made it
    assert window.pipeline.stats().engine.errors == 0


def test_the_fast_entry_is_disabled_and_says_why_while_its_files_are_missing(qtbot, window_on, fast_missing):
    window = window_on(lambda model: pytest.fail(f"no {model} model should be built"))
    combo = window.controls.model_combo
    item = combo.model().item(combo.findData("fast"))
    assert not item.isEnabled() and "not trained and shipped yet" in item.toolTip()
    assert "not trained and shipped yet" in combo.toolTip()
    window.set_model("fast")
    assert window.model == "full" and combo.currentData() == "full"
    assert "not trained and shipped yet" in window.statusBar().currentMessage()
    before = window.results_seen
    qtbot.waitUntil(lambda: window.results_seen > before, timeout=TIMEOUT_MS)


def test_a_window_without_a_model_factory_keeps_its_model(window_on):
    window = window_on(None)
    assert not window.controls.model_combo.isEnabled()
    assert "--student" in window.controls.model_combo.toolTip()


def test_the_model_choice_is_remembered():
    save_state(UiState(model="fast"))
    assert load_state().model == "fast"
    save_state(UiState(model="turbo"))
    assert load_state().model == "auto"  # anything else falls back to the default
