"""The kiosk's side of the OSC remote control: a show controller moves the playlist.

An installation's look is its playlist, so the remote control cuts between the
playlist's paintings (next, previous, a named one), takes snapshots, pauses the
camera and, where the config allows it (``capture = true``), takes a visitor's style
from the camera; strength, mixes and recording stay as the config set them (the command line
refuses --record and --mix with --kiosk for the same reason), and asking for them is
refused in one logged line.
"""
from __future__ import annotations

from typing import Sequence

from app.errors import UserError
from app.kiosk.session import KioskSession
from app.live.remote import RemoteStatus


def _not_in_kiosk(what: str) -> UserError:
    return UserError(f"{what} is not available in kiosk mode: the playlist in the kiosk config sets it")


class KioskRemote:
    """A :class:`app.live.remote.RemoteTarget` that drives a :class:`KioskSession` (commands run on the
    OSC thread: every session method used here is thread-safe)."""

    def __init__(self, session: KioskSession) -> None:
        self.session = session

    def next_style(self) -> None:
        self.session.skip(+1)

    def previous_style(self) -> None:
        self.session.skip(-1)

    def set_style(self, name: str) -> None:
        self.session.show(name)

    def set_alpha(self, alpha: float) -> None:
        raise _not_in_kiosk("/alpha")

    def set_palette(self, strength: float) -> None:
        raise _not_in_kiosk("/palette")

    def mix(self, names: Sequence[str], weights: Sequence[float]) -> None:
        raise _not_in_kiosk("/mix")

    def start_recording(self) -> None:
        raise UserError("recording is not available in kiosk mode")

    def stop_recording(self) -> None:
        raise UserError("recording is not available in kiosk mode")

    def snapshot(self) -> None:
        self.session.pipeline.snapshot()

    def capture_style(self) -> None:
        self.session.capture_style()  # refused unless the config has capture = true

    def pause(self) -> None:
        self.session.pipeline.pause_capture()

    def resume(self) -> None:
        if self.session.active:  # outside active hours the camera stays released
            self.session.pipeline.resume_capture()

    def status(self) -> RemoteStatus:
        return RemoteStatus(self.session.current_style(), self.session.pipeline.stats().engine.fps, False)
