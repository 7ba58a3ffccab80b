"""What the window remembers between runs: last styles, alpha, source, geometry...

A small JSON file in the config directory, written atomically. Anything unreadable or
out of range falls back to the default for that field, never to an error: a damaged
settings file must not stop the app from starting. (No Qt here: geometry is the
base64 text of ``QWidget.saveGeometry()``.)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from app.live.adaptive import AUTO, DEFAULT_SIZE
from app.live.pipeline import SizeChoice
from app.live.temporal import DEFAULT_STRENGTH
from app.paths import atomic_write_bytes, config_dir
from app.rules import COLOR_MODES, MODEL_CHOICES, is_alpha, is_mix_weights, is_processing_size

STATE_FILE = "live.json"
VIEW_MODES = ("stylized", "side by side", "original")


@dataclass
class UiState:
    styles: list[str] = field(default_factory=list)  # style names; two or more: a mix
    weights: list[float] = field(default_factory=list)
    alpha: float = 1.0
    stabilize: float = DEFAULT_STRENGTH  # temporal stabilisation, 0: off
    color: str = "none"
    palette: float | None = None  # pull to the painting's colours (app.engine.Settings.palette); None: the model's
    size: SizeChoice = DEFAULT_SIZE  # pixels, None (the frame's own size) or "auto"
    source: str | None = None  # a --source value; None: camera 0
    mirror: bool = False
    overlay: bool = False
    view: str = "stylized"
    model: str = "auto"  # full, fast or auto (app.engine.pick_model): the one chosen in the window last
    geometry: str = ""


def state_path() -> Path:
    return config_dir() / STATE_FILE


def _valid(name: str, value: object, default: object) -> bool:
    if name in ("styles",):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if name == "weights":
        return isinstance(value, list) and (not value or is_mix_weights(value))
    if name in ("alpha", "stabilize"):
        return is_alpha(value)  # stabilisation strength shares alpha's range, 0..1
    if name == "palette":
        return value is None or is_alpha(value)
    if name == "color":
        return value in COLOR_MODES
    if name == "view":
        return value in VIEW_MODES
    if name == "model":
        return value in MODEL_CHOICES
    if name == "size":
        return value is None or value == AUTO or (isinstance(value, int) and is_processing_size(value))
    if name == "source":
        return value is None or isinstance(value, str)
    return isinstance(value, type(default))


def load_state(path: Path | None = None) -> UiState:
    path = path or state_path()
    state = UiState()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return state
    if not isinstance(data, dict):
        return state
    for f in fields(UiState):
        if f.name in data and _valid(f.name, data[f.name], getattr(state, f.name)):
            setattr(state, f.name, data[f.name])
    if len(state.weights) != len(state.styles):
        state.weights = []
    return state


def save_state(state: UiState, path: Path | None = None) -> None:
    """Write atomically; a read-only config folder is not worth an error at exit."""
    try:
        atomic_write_bytes(path or state_path(), json.dumps(asdict(state), indent=2).encode("utf-8"))
    except OSError:
        pass
