"""The window's side of the OSC remote control: each message becomes what a click or a key does.

The OSC server runs on its own thread; Qt widgets may only be touched on the UI thread.
:meth:`WindowRemote.post` hands a command over with a queued signal, so it runs on the UI
thread between two frames, exactly like the hotkey that does the same thing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from PyQt6.QtCore import QObject, pyqtSignal

from app.errors import UserError
from app.live.remote import RemoteStatus

if TYPE_CHECKING:
    from app.ui.window import MainWindow


class WindowRemote(QObject):
    """A :class:`app.live.remote.RemoteTarget` that drives a :class:`MainWindow`."""

    _posted = pyqtSignal(object)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self._posted.connect(self._run)  # emitted from the OSC thread: queued to the UI thread

    def post(self, run: Callable[[], None]) -> None:
        self._posted.emit(run)

    def _run(self, run: Callable[[], None]) -> None:
        run()

    def _known(self, name: str) -> str:
        if self.window.gallery.style(name) is None:
            raise UserError(f"no style named {name!r} in the gallery")
        return name

    def next_style(self) -> None:
        self.window.step_style(+1)

    def previous_style(self) -> None:
        self.window.step_style(-1)

    def set_style(self, name: str) -> None:
        self.window.select_styles([self._known(name)])

    def set_alpha(self, alpha: float) -> None:
        self.window.set_alpha(alpha)

    def set_palette(self, strength: float) -> None:
        self.window.set_palette(strength)

    def mix(self, names: Sequence[str], weights: Sequence[float]) -> None:
        self.window.mix_styles([self._known(n) for n in names], list(weights))

    def start_recording(self) -> None:
        if not self.window.pipeline.recording:
            self.window.start_recording()

    def stop_recording(self) -> None:
        if self.window.pipeline.recording:
            self.window.stop_recording()

    def snapshot(self) -> None:
        self.window.snapshot()

    def capture_style(self) -> None:
        self.window.capture_style()

    def pause(self) -> None:
        self.window.pause()

    def resume(self) -> None:
        self.window.resume()

    def status(self) -> RemoteStatus:
        """Read from the pipeline, not the widgets: this runs on the OSC thread."""
        pipeline = self.window.pipeline
        return RemoteStatus(" + ".join(s.name for s in pipeline.styles), pipeline.stats().engine.fps,
                            pipeline.recording)
