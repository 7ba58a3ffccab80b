"""The hotkeys, listed once: the help dialog and the README table come from here."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

QUIT_KEY = "Ctrl+Q"
HOTKEYS: tuple[tuple[str, str], ...] = (
    ("Space", "start / stop recording"),
    ("S", "save a snapshot (PNG)"),
    ("V", "virtual camera on / off"),
    ("C", "take a style from the camera (the middle of the picture)"),
    ("Left / Right", "previous / next style"),
    ("Up / Down", "more / less style (alpha)"),
    ("F", "fullscreen"),
    ("Esc", "leave fullscreen"),
    ("O", "overlay: FPS, latency, size, device"),
    ("M", "mirror the camera"),
    ("H or ?", "this list"),
    (QUIT_KEY, "quit (a recording in progress is finished first; Ctrl+C in the terminal does the same)"),
)


def hotkeys_html() -> str:
    rows = "".join(f"<tr><td style='padding:2px 16px 2px 0'><b>{k}</b></td><td>{v}</td></tr>" for k, v in HOTKEYS)
    return (f"<table>{rows}</table><p style='color:gray'>Drop an image on the window to add it as a style; "
            "Ctrl+click styles to mix them.</p>")


class HotkeysDialog(QDialog):
    """Non-modal: the video keeps running behind it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        label = QLabel(hotkeys_html())
        label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.setModal(False)
