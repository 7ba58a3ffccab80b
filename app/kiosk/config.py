"""Kiosk configuration: a TOML file parsed into an immutable, fully validated :class:`KioskConfig`.

An installation runs unattended for days, so every mistake must be caught before the
screen goes fullscreen, and reported as ONE line that names the key and the problem
(``kiosk.toml: playlist[2].alpha: must be between 0 and 1, got 1.7``). Unknown keys are
errors too: a typo such as ``shufle = true`` must not silently run with the default.
Only plain values are checked here (no files, no Qt): style names are resolved against
the style library, and the source opened, by app.kiosk.run.
"""
from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from app.live.adaptive import DEFAULT_SIZE
from app.errors import UserError
from app.paths import config_dir
from app.live.remote import DEFAULT_HOST
from app.live.sources import DEFAULT_CAMERA_SIZE
from app.rules import ALPHA_RANGE, COLOR_MODES, MODEL_CHOICES, PORT_RANGE, PROCESSING_SIZE_RANGE
from app.styles import StyleLibrary

if TYPE_CHECKING:
    from app.live.pipeline import LiveOptions

DEFAULT_FILE = "kiosk.toml"  # looked for in the config folder when --config is not given
LOG_LEVELS = ("debug", "info", "warning", "error")
MODIFIERS = {"ctrl": "Ctrl", "control": "Ctrl", "shift": "Shift", "alt": "Alt", "meta": "Meta",
             "super": "Meta", "win": "Meta"}
NAMED_KEYS = {name.lower(): name for name in (
    "Escape", "Space", "Tab", "Return", "Enter", "Backspace", "Delete", "Insert", "Home", "End",
    "PageUp", "PageDown", "Left", "Right", "Up", "Down", "Pause", "Print")}
NAMED_KEYS["esc"] = "Escape"
NAMED_KEYS["del"] = "Delete"


# ---------------------------------------------------------------------------- value types


@dataclass(frozen=True)
class KeyChord:
    """A key with modifiers, e.g. Ctrl+Shift+Q: ``modifiers`` from Ctrl/Shift/Alt/Meta, ``key`` a
    Qt key name without the ``Key_`` prefix (``Q``, ``F12``, ``Escape``)."""

    modifiers: frozenset[str]
    key: str

    def __str__(self) -> str:
        order = [m for m in ("Ctrl", "Shift", "Alt", "Meta") if m in self.modifiers]
        return "+".join([*order, self.key])

    @classmethod
    def parse(cls, text: str, require_modifier: bool = True) -> "KeyChord":
        """'Ctrl+Shift+Q' -> KeyChord; ValueError (one phrase) when it is not a usable chord.
        ``require_modifier=False``: a plain key too (a visitor button, unlike the exit chord)."""
        parts = [p.strip() for p in text.split("+")]
        if any(not p for p in parts):
            raise ValueError(f"expected modifiers and a key such as 'Ctrl+Shift+Q', got {text!r}")
        mods: set[str] = set()
        keys: list[str] = []
        for part in parts:
            mod = MODIFIERS.get(part.lower())
            if mod is not None:
                if mod in mods:
                    raise ValueError(f"{mod} appears twice in {text!r}")
                mods.add(mod)
                continue
            keys.append(_key_name(part, text))
        if len(keys) != 1:
            raise ValueError(f"expected exactly one key besides the modifiers, got {text!r}")
        if not mods and require_modifier:
            raise ValueError(f"needs at least one modifier (Ctrl, Shift, Alt or Meta) so that visitors "
                             f"cannot exit by accident, got {text!r}")
        return cls(frozenset(mods), keys[0])


def _key_name(part: str, text: str) -> str:
    if len(part) == 1 and part.isascii() and part.isalnum():
        return part.upper()
    m = re.fullmatch(r"[fF]([1-9]|[12][0-9]|3[0-5])", part)
    if m:
        return f"F{m.group(1)}"
    named = NAMED_KEYS.get(part.lower())
    if named is None:
        raise ValueError(f"unknown key {part!r} in {text!r} (use a letter, a digit, F1-F35 or a key such "
                         "as Escape, Space, Delete, Home, PageUp)")
    return named


@dataclass(frozen=True)
class ActiveHours:
    """A daily window in local time, e.g. 08:00-22:00; one that ends before it starts spans midnight."""

    start: dt.time
    end: dt.time | None  # None: 24:00

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}" if self.end else f"{self.start:%H:%M}-24:00"

    @classmethod
    def parse(cls, text: str) -> "ActiveHours":
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if not m:
            raise ValueError(f"expected HH:MM-HH:MM such as '08:00-22:00', got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if not (0 <= h1 <= 23 and 0 <= m1 <= 59):
            raise ValueError(f"{m.group(1)}:{m.group(2)} is not a time of day")
        if not ((0 <= h2 <= 23 and 0 <= m2 <= 59) or (h2, m2) == (24, 0)):
            raise ValueError(f"{m.group(3)}:{m.group(4)} is not a time of day")
        start = dt.time(h1, m1)
        end = None if h2 == 24 else dt.time(h2, m2)
        if end == start:
            raise ValueError(f"starts and ends at the same time in {text!r} (leave active_hours out to run "
                             "all day)")
        return cls(start, end)

    def contains(self, t: dt.time) -> bool:
        t = t.replace(tzinfo=None)
        if self.end is None:
            return t >= self.start
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # spans midnight


@dataclass(frozen=True)
class PlaylistItem:
    """One [[playlist]] entry: a style name or image path, its strength, colour mode, duration and
    pull to the painting's colours."""

    style: str
    alpha: float = 1.0
    color: str = "none"
    seconds: float | None = None  # None: the config's ``interval``
    palette: float | None = None  # None: the running model's default


@dataclass(frozen=True)
class KioskConfig:
    """Everything the kiosk needs; defaults are what an empty file gives."""

    source: str = "0"
    screen: int = 0
    camera_size: tuple[int, int] = DEFAULT_CAMERA_SIZE
    mirror: bool = False
    size: int | str = DEFAULT_SIZE  # "auto", like the window; a number of pixels fixes it
    model: str = "auto"  # full, fast or auto (app.engine.pick_model); --model overrides it
    caption: bool = True
    caption_seconds: float = 12.0  # 0: always shown
    playlist: tuple[PlaylistItem, ...] = ()  # empty: every style in the library
    interval: float = 60.0
    shuffle: bool = False
    crossfade: float = 1.5
    exit_chord: KeyChord = field(default_factory=lambda: KeyChord.parse("Ctrl+Shift+Q"))
    ignore_close: bool = True
    active_hours: ActiveHours | None = None
    log_level: str = "info"
    watchdog: float = 5.0
    osc_port: int | None = None  # listen for OSC remote control on this UDP port (None: off)
    osc_host: str = DEFAULT_HOST
    capture: bool = False  # visitors may take a style from the camera (capture_key, OSC /style/capture)
    capture_key: KeyChord = field(default_factory=lambda: KeyChord.parse("C", require_modifier=False))
    origin: str = "defaults"  # the file it came from, for messages

    def seconds_of(self, item: PlaylistItem) -> float:
        return self.interval if item.seconds is None else item.seconds

    def with_overrides(self, **changes: Any) -> "KioskConfig":
        """A copy with command-line values applied (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# ---------------------------------------------------------------------------- parsing


class _Checker:
    """Pulls typed, range-checked values out of a TOML table, naming the key path in every error."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, problem: str) -> UserError:
        return UserError(f"{self.origin}: {key}: {problem}" if key else f"{self.origin}: {problem}")

    def table(self, data: Any, key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(key, f"must be a table, got {_describe(data)}")
        for name in data:
            if not isinstance(name, str) or name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(allowed)})"
                shown = name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,60}", name) \
                    else _short(repr(name))
                path = f"{key}.{shown}" if key else shown
                raise self.fail(path, f"unknown key{hint}")
        return data

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_describe(value)}")
        return value

    def number(self, value: Any, key: str, lo: float, hi: float, *, integer: bool = False,
               lo_open: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "a whole number" if integer else "a number"
            raise self.fail(key, f"must be {kind}, got {_describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value}")
        below = value <= lo if lo_open else value < lo  # compares ints exactly: 10**400 is fine here
        if below or value > hi:
            lo_text = f"more than {_num(lo)} and at most {_num(hi)}" if lo_open else \
                f"between {_num(lo)} and {_num(hi)}"
            raise self.fail(key, f"must be {lo_text}, got {_num(value)}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {_describe(value)}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        text = self.string(value, key).strip().lower()
        if text not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return text

    def parsed(self, value: Any, key: str, parse: Callable[[str], Any]) -> Any:
        text = self.string(value, key)
        try:
            return parse(text)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None


def _num(value: float) -> str:
    if isinstance(value, int) and abs(value) > 10**12:  # no float(): 10**400 would overflow
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe(value: Any) -> str:
    """A short, one-line account of a value of the wrong type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {_short(repr(value))}"
    if isinstance(value, (int, float)):
        return _num(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, (dt.date, dt.time)):
        return f"the date/time {value.isoformat()} (quote it as a string)"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


TOP_KEYS = ("source", "screen", "camera_size", "mirror", "size", "caption", "caption_seconds", "playlist",
            "interval", "shuffle", "crossfade", "exit_chord", "ignore_close", "active_hours", "log_level",
            "watchdog", "osc_port", "osc_host", "capture", "capture_key", "model")
ITEM_KEYS = ("style", "alpha", "color", "seconds", "palette")


def _camera_size(value: Any, key: str, c: _Checker) -> tuple[int, int]:
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,5})\s*[xX*]\s*(\d{1,5})\s*", value)
        if not m:
            raise c.fail(key, f"expected WIDTHxHEIGHT such as '1280x720', got {value!r}")
        w, h = int(m.group(1)), int(m.group(2))
    elif isinstance(value, list) and len(value) == 2:
        w = int(c.number(value[0], f"{key}[1]", 16, 8192, integer=True))
        h = int(c.number(value[1], f"{key}[2]", 16, 8192, integer=True))
    else:
        raise c.fail(key, f"expected WIDTHxHEIGHT such as '1280x720', got {_describe(value)}")
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise c.fail(key, f"each side must be between 16 and 8192, got {w}x{h}")
    return w, h


def _source(value: Any, key: str, c: _Checker) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = c.number(value, key, 0, 99, integer=True)
        return str(value)
    text = c.string(value, key).strip()
    if not text:
        raise c.fail(key, "must not be empty (a camera index such as \"0\", a video file, a URL or \"demo\")")
    return text


def _item(value: Any, key: str, c: _Checker) -> PlaylistItem:
    if isinstance(value, str):  # shorthand: playlist = ["poppies", "summertime"]
        value = {"style": value}
    t = c.table(value, key, ITEM_KEYS)
    if "style" not in t:
        raise c.fail(f"{key}.style", "missing (the style's name, see `python main.py styles`, or an image path)")
    style = c.string(t["style"], f"{key}.style").strip()
    if not style:
        raise c.fail(f"{key}.style", "must not be empty")
    alpha = float(c.number(t.get("alpha", 1.0), f"{key}.alpha", *ALPHA_RANGE))
    color = c.choice(t.get("color", "none"), f"{key}.color", COLOR_MODES)
    seconds = None
    if "seconds" in t:
        seconds = float(c.number(t["seconds"], f"{key}.seconds", 0.0, 7 * 86400.0, lo_open=True))
    palette = float(c.number(t["palette"], f"{key}.palette", *ALPHA_RANGE)) if "palette" in t else None
    return PlaylistItem(style, alpha, color, seconds, palette)


def config_from_dict(data: Any, origin: str = "config") -> KioskConfig:
    """Validate a parsed TOML document; raises UserError (one line naming the key) on any problem."""
    c = _Checker(origin)
    t = c.table(data, "", TOP_KEYS)
    kw: dict[str, Any] = {"origin": origin}
    if "source" in t:
        kw["source"] = _source(t["source"], "source", c)
    if "screen" in t:
        kw["screen"] = int(c.number(t["screen"], "screen", 0, 63, integer=True))
    if "camera_size" in t:
        kw["camera_size"] = _camera_size(t["camera_size"], "camera_size", c)
    for name in ("mirror", "caption", "shuffle", "ignore_close", "capture"):
        if name in t:
            kw[name] = c.boolean(t[name], name)
    if "size" in t:
        kw["size"] = "auto" if t["size"] == "auto" else \
            int(c.number(t["size"], "size", *PROCESSING_SIZE_RANGE, integer=True))
    if "caption_seconds" in t:
        kw["caption_seconds"] = float(c.number(t["caption_seconds"], "caption_seconds", 0.0, 86400.0))
    if "interval" in t:
        kw["interval"] = float(c.number(t["interval"], "interval", 0.0, 7 * 86400.0, lo_open=True))
    if "crossfade" in t:
        kw["crossfade"] = float(c.number(t["crossfade"], "crossfade", 0.0, 10.0))
    if "exit_chord" in t:
        kw["exit_chord"] = c.parsed(t["exit_chord"], "exit_chord", KeyChord.parse)
    if "capture_key" in t:
        kw["capture_key"] = c.parsed(t["capture_key"], "capture_key",
                                     lambda text: KeyChord.parse(text, require_modifier=False))
        if kw["capture_key"] == kw.get("exit_chord", KioskConfig().exit_chord):
            raise c.fail("capture_key", f"must differ from exit_chord ({kw['capture_key']})")
    if "active_hours" in t:
        kw["active_hours"] = c.parsed(t["active_hours"], "active_hours", ActiveHours.parse)
    if "model" in t:
        kw["model"] = c.choice(t["model"], "model", MODEL_CHOICES)
    if "log_level" in t:
        kw["log_level"] = c.choice(t["log_level"], "log_level", LOG_LEVELS)
    if "watchdog" in t:
        kw["watchdog"] = float(c.number(t["watchdog"], "watchdog", 1.0, 3600.0))
    if "osc_port" in t:
        kw["osc_port"] = int(c.number(t["osc_port"], "osc_port", *PORT_RANGE, integer=True))
    if "osc_host" in t:
        kw["osc_host"] = c.string(t["osc_host"], "osc_host").strip()
        if not kw["osc_host"]:
            raise c.fail("osc_host", f"must not be empty (leave it out for {DEFAULT_HOST}, this machine only)")
    if "playlist" in t:
        items = t["playlist"]
        if not isinstance(items, list):
            raise c.fail("playlist", f"must be an array of [[playlist]] tables, got {_describe(items)}")
        if not items:
            raise c.fail("playlist", "must list at least one style (or leave playlist out to cycle through "
                                     "every style)")
        kw["playlist"] = tuple(_item(v, f"playlist[{i}]", c) for i, v in enumerate(items, 1))
    config = KioskConfig(**kw)
    check_timing(config, c.fail)
    return config


def check_timing(config: KioskConfig, fail: Callable[[str, str], UserError]) -> None:
    """Every style must be on screen longer than the cross-fade into the next one."""
    f = config.crossfade
    if config.interval <= f and (not config.playlist or any(i.seconds is None for i in config.playlist)):
        raise fail("interval", f"must be longer than crossfade ({_num(f)} s), got {_num(config.interval)}")
    for i, item in enumerate(config.playlist, 1):
        if item.seconds is not None and item.seconds <= f:
            raise fail(f"playlist[{i}].seconds", f"must be longer than crossfade ({_num(f)} s), "
                                                 f"got {_num(item.seconds)}")


def load_config(path: Path | None) -> KioskConfig:
    """The config file at ``path``; None: ``kiosk.toml`` in the config folder if there is one,
    else the defaults."""
    if path is None:
        default = config_dir() / DEFAULT_FILE
        if not default.is_file():
            return KioskConfig()
        path = default
    path = Path(path)
    origin = path.name if path.parent in (Path("."), Path("")) else str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{origin}: no such config file") from None
    except IsADirectoryError:
        raise UserError(f"{origin}: is a folder, not a config file") from None
    except OSError as exc:
        raise UserError(f"{origin}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{origin}: not UTF-8 text (byte {exc.start})") from None
    return parse_config(text, origin)


def parse_config(text: str, origin: str = "config") -> KioskConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{origin}: invalid TOML: {_short(str(exc), 200)}") from None
    return config_from_dict(data, origin)


def with_live_options(config: KioskConfig, opts: LiveOptions, *, camera_size_given: bool = False,
                      osc_host: str | None = None, library: StyleLibrary | None = None) -> KioskConfig:
    """``config`` with the command line's values on top. --style entries replace the playlist (each
    name checked now: UserError naming it); --alpha, --preserve-color and --palette apply to every entry. The
    camera size and the OSC host count only when given (``opts`` holds their defaults otherwise)."""
    playlist = None
    if opts.styles:
        library = library or StyleLibrary()
        for name in opts.styles:
            library.resolve(name)  # UserError naming the --style value
        playlist = tuple(PlaylistItem(name, 1.0 if opts.alpha is None else opts.alpha, opts.color or "none",
                                      palette=opts.palette) for name in opts.styles)
    elif opts.alpha is not None or opts.color is not None or opts.palette is not None:
        playlist = tuple(PlaylistItem(i.style, i.alpha if opts.alpha is None else opts.alpha, opts.color or i.color,
                                      i.seconds, i.palette if opts.palette is None else opts.palette)
                         for i in config.playlist) or None
    return config.with_overrides(source=opts.source, size=opts.size, mirror=opts.mirror,
                                 camera_size=opts.camera_size if camera_size_given else None, playlist=playlist,
                                 osc_port=opts.osc_port, osc_host=osc_host)
