"""Kiosk config: the example file parses; every mistake is ONE line naming the key and the problem;
unknown keys are errors; nothing but UserError ever comes out, whatever the document holds; and
the command line stops on a bad config before the model loads or a window opens."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings, strategies as st

import app.cli.live as live_cli
from app.live.adaptive import DEFAULT_SIZE, DEFAULT_TARGET_FPS
from app.cli import main
from app.errors import UserError
from app.kiosk.config import (ITEM_KEYS, TOP_KEYS, ActiveHours, KeyChord, KioskConfig, config_from_dict,
                              load_config, parse_config)
from app.paths import config_dir
from conftest import REPO, assert_one_line


def error_of(text: str) -> str:
    with pytest.raises(UserError) as info:
        parse_config(text, "kiosk.toml")
    message = str(info.value)
    assert_one_line(message)
    return message


def test_the_example_file_parses_with_every_key():
    config = load_config(REPO / "kiosk.example.toml")
    assert config.origin.endswith("kiosk.example.toml")
    assert config.camera_size == (1280, 720) and config.mirror is True and config.size == 256
    assert config.exit_chord == KeyChord(frozenset({"Ctrl", "Shift"}), "Q")
    assert str(config.active_hours) == "08:00-22:00"
    assert [i.style for i in config.playlist] == ["the_great_wave_off_kanagawa", "composition_viii",
                                                  "cafe_terrace_at_night", "poppies"]
    assert config.seconds_of(config.playlist[0]) == 90 and config.seconds_of(config.playlist[1]) == 60
    assert config.playlist[1].color == "luminance" and config.playlist[2].alpha == 0.8
    assert config.playlist[2].palette == 0.3 and config.playlist[3].palette is None  # None: the model's default
    text = (REPO / "kiosk.example.toml").read_text()
    for key in TOP_KEYS + ITEM_KEYS:  # the example shows every key
        assert f"\n{key} =" in text or f"\n[[{key}]]" in text, key
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Kiosk mode", 1)[1]
    for key in TOP_KEYS + ITEM_KEYS:  # and the README documents every key
        assert f"`{key}`" in section, key


def test_an_empty_file_gives_the_documented_defaults():
    config = parse_config("", "kiosk.toml")
    assert config == KioskConfig(origin="kiosk.toml")
    assert (config.source, config.crossfade, config.watchdog, str(config.exit_chord)) == ("0", 1.5, 5.0, "Ctrl+Shift+Q")
    assert config.ignore_close and config.caption and not config.shuffle and config.active_hours is None
    assert config.size == "auto" == DEFAULT_SIZE  # the window's adaptive size; a number in the file fixes it


def test_the_config_folder_file_is_used_when_no_path_is_given():
    assert load_config(None) == KioskConfig()
    (config_dir() / "kiosk.toml").write_text('interval = 30\nplaylist = ["poppies", "summertime"]\n')
    config = load_config(None)
    assert config.interval == 30 and [i.style for i in config.playlist] == ["poppies", "summertime"]


@pytest.mark.parametrize("text, key, problem", [
    ("shufle = true", "shufle", "unknown key (did you mean 'shuffle'?)"),
    ("[[playlist]]\nstyle = 'a'\nspeed = 2", "playlist[1].speed", "unknown key"),
    ("[[playlist]]\nstyle = 'a'\n[[playlist]]\nstyle = 'b'\nalpha = 1.7", "playlist[2].alpha",
     "must be between 0 and 1, got 1.7"),
    ("[[playlist]]\nalpha = 0.5", "playlist[1].style", "missing"),
    ("[[playlist]]\nstyle = 'a'\npalette = -0.1", "playlist[1].palette", "must be between 0 and 1"),
    ("[[playlist]]\nstyle = 'a'\ncolor = 'sepia'", "playlist[1].color", "must be one of none, luminance, histogram"),
    ("[[playlist]]\nstyle = 'a'\nseconds = 1", "playlist[1].seconds", "must be longer than crossfade (1.5 s), got 1"),
    ("playlist = []", "playlist", "must list at least one style"),
    ("playlist = 'poppies'", "playlist", "must be an array"),
    ("playlist = [3]", "playlist[1]", "must be a table, got 3"),
    ("screen = -1", "screen", "must be between 0 and 63, got -1"),
    ("screen = '1'", "screen", "must be a whole number, got the string '1'"),
    ("size = 16", "size", "must be between 32 and 4096, got 16"),
    ("size = 2.5", "size", "must be a whole number, got 2.5"),
    ("mirror = 'yes'", "mirror", "must be true or false, got the string 'yes'"),
    ("caption = 1", "caption", "must be true or false, got 1"),
    ("interval = 0", "interval", "must be more than 0"),
    ("interval = nan", "interval", "must be a finite number, got nan"),
    ("crossfade = inf", "crossfade", "must be a finite number, got inf"),
    ("crossfade = 11", "crossfade", "must be between 0 and 10, got 11"),
    ("crossfade = 2.0\ninterval = 2", "interval", "must be longer than crossfade (2 s), got 2"),
    ("watchdog = 0.1", "watchdog", "must be between 1 and 3600, got 0.1"),
    ("watchdog = 10000000000000000000000000000", "watchdog", "must be between 1 and 3600"),
    ("camera_size = '640'", "camera_size", "expected WIDTHxHEIGHT"),
    ("camera_size = [640]", "camera_size", "expected WIDTHxHEIGHT"),
    ("camera_size = [640, 'x']", "camera_size[2]", "must be a whole number"),
    ("camera_size = '9000x480'", "camera_size", "each side must be between 16 and 8192"),
    ("source = ''", "source", "must not be empty"),
    ("source = true", "source", "must be a string"),
    ("exit_chord = 'Q'", "exit_chord", "needs at least one modifier"),
    ("exit_chord = 'Ctrl+Shift'", "exit_chord", "exactly one key"),
    ("exit_chord = 'Ctrl+Ctrl+Q'", "exit_chord", "Ctrl appears twice"),
    ("exit_chord = 'Ctrl+Hyper'", "exit_chord", "unknown key 'Hyper'"),
    ("exit_chord = 'Ctrl++'", "exit_chord", "expected modifiers and a key"),
    ("active_hours = '8-22'", "active_hours", "expected HH:MM-HH:MM"),
    ("active_hours = '25:00-22:00'", "active_hours", "25:00 is not a time of day"),
    ("active_hours = '08:00-08:00'", "active_hours", "starts and ends at the same time"),
    ("active_hours = 08:00:00", "active_hours", "quote it as a string"),
    ("log_level = 'verbose'", "log_level", "must be one of debug, info, warning, error"),
    ('"weird\\nkey" = 1', "'weird\\nkey'", "unknown key"),  # a real newline in the key: shown escaped
])
def test_each_mistake_is_one_line_naming_the_key(text, key, problem):
    message = error_of(text)
    assert message.startswith(f"kiosk.toml: {key}: "), message
    assert problem in message, message


@pytest.mark.parametrize("text", ["x = [1,", "a = 1\na = 2", "[playlist\nstyle='a'", "= 3"])
def test_bad_toml_is_one_line_with_its_position(text):
    message = error_of(text)
    assert message.startswith("kiosk.toml: invalid TOML: ")
    assert "line" in message or "end of document" in message, message


def test_file_problems_are_one_line(tmp_path):
    for path, expected in ((tmp_path / "missing.toml", "no such config file"), (tmp_path, "is a folder")):
        with pytest.raises(UserError, match=expected) as info:
            load_config(path)
        assert_one_line(str(info.value))
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b"source = '\xe9'\n")
    with pytest.raises(UserError, match="not UTF-8") as info:
        load_config(latin1)
    assert_one_line(str(info.value))


def test_values_are_normalised():
    config = parse_config("source = 1\ncamera_size = [1280, 720]\nlog_level = 'DEBUG'\n"
                          "exit_chord = 'shift + alt + f12'\n"
                          "active_hours = '22:30-24:00'\nplaylist = ['poppies']\ninterval = 5", "k.toml")
    assert config.source == "1" and config.camera_size == (1280, 720) and config.log_level == "debug"
    assert config.exit_chord == KeyChord(frozenset({"Shift", "Alt"}), "F12")
    assert str(config.exit_chord) == "Shift+Alt+F12"
    assert config.playlist[0].style == "poppies" and config.seconds_of(config.playlist[0]) == 5
    assert config.active_hours.contains(dt.time(23, 59)) and not config.active_hours.contains(dt.time(22, 29))


def test_active_hours_may_span_midnight():
    day = ActiveHours.parse("08:00-22:00")
    assert day.contains(dt.time(8, 0)) and day.contains(dt.time(21, 59)) and not day.contains(dt.time(22, 0))
    assert not day.contains(dt.time(3, 0))
    night = ActiveHours.parse("20:00 - 02:30")
    assert night.contains(dt.time(23, 0)) and night.contains(dt.time(0, 0)) and night.contains(dt.time(2, 29))
    assert not night.contains(dt.time(2, 30)) and not night.contains(dt.time(12, 0))


# ---------------------------------------------------------------------------- property: only UserError

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10**30, 10**30).map(lambda i: i * 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["0", "demo", "Ctrl+Shift+Q", "08:00-22:00", "640x480", "none", "info", "a+b"]),
                    st.times(), st.dates())
keys = st.one_of(st.sampled_from(TOP_KEYS), st.sampled_from(TOP_KEYS), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)), max_leaves=6)
entries = st.lists(st.one_of(st.text(max_size=6), st.dictionaries(st.sampled_from(ITEM_KEYS), scalars, max_size=4)),
                   max_size=3)
documents = st.one_of(st.dictionaries(keys, st.one_of(scalars, values), max_size=6),
                      st.builds(lambda d, p: {**d, "playlist": p}, st.dictionaries(keys, scalars, max_size=4), entries),
                      values)


@settings(max_examples=150)
@given(documents)
def test_any_document_gives_a_config_or_one_user_error(data):
    try:
        config = config_from_dict(data, "kiosk.toml")
    except UserError as exc:
        assert_one_line(str(exc))
        assert str(exc).startswith("kiosk.toml: ")
        return
    assert isinstance(config, KioskConfig)
    assert all(0 <= i.alpha <= 1 and math.isfinite(config.seconds_of(i)) for i in config.playlist)
    assert 0 <= config.crossfade < config.interval or config.playlist


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_any_text_gives_a_config_or_one_user_error(text):
    try:
        parse_config(text, "kiosk.toml")
    except UserError as exc:
        assert_one_line(str(exc))


# ---------------------------------------------------------------------------- the command line


@pytest.fixture
def nothing_may_start(monkeypatch):
    """Fail the test if the model loads or a window opens."""
    def boom(*_a, **_k):
        raise AssertionError("started although the config is invalid")

    monkeypatch.setattr(live_cli, "make_stylizer", boom)
    import app.ui.kiosk_window as kw
    monkeypatch.setattr(kw, "run_kiosk_window", boom)


@pytest.mark.parametrize("text, expected", [
    ("crossfade = 1.5\n[[playlist]]\nstyle = 'poppies'\nalpha = 1.7\n",
     "kiosk.toml: playlist[1].alpha: must be between 0 and 1"),
    ("[[playlist]]\nstyle = 'poppies'\n[[playlist]]\nstyle = 'no_such_painting'\n",
     "kiosk.toml: playlist[2].style: no style named 'no_such_painting'"),
    ("source = 'missing.mp4'\n", "kiosk.toml: source: missing.mp4: no such file"),
    ("loglevel = 'info'\n", "kiosk.toml: loglevel: unknown key (did you mean 'log_level'?)"),
])
def test_an_invalid_config_stops_the_kiosk_before_anything_starts(text, expected, tmp_path, monkeypatch, capsys,
                                                                 nothing_may_start):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kiosk.toml").write_text(text)
    rc = main(["--kiosk", "--config", "kiosk.toml"])
    captured = capsys.readouterr()
    assert rc == 2
    assert_one_line(captured.err)
    assert captured.err.strip().startswith(f"error: {expected}"), captured.err
    assert captured.out == ""


def test_kiosk_options_need_kiosk(capsys, nothing_may_start):
    assert main(["--config", "kiosk.toml"]) == 2
    assert capsys.readouterr().err.strip() == "error: --config is a kiosk option: add --kiosk"
    assert main(["--kiosk", "--duration", "0"]) == 2
    assert "--duration must be more than 0" in capsys.readouterr().err


@pytest.mark.parametrize("size, target", [(DEFAULT_SIZE, DEFAULT_TARGET_FPS), (192, None)])
def test_a_kiosk_session_hands_its_size_to_the_governor_unless_the_config_fixes_it(tmp_path, size, target):
    from app.kiosk.session import KioskSession
    from kiosk_fixtures import cached_entries, micro_stylizer

    stylizer = micro_stylizer(tmp_path)
    session = KioskSession(KioskConfig(size=size), stylizer, lambda: None, cached_entries(stylizer), seed=1)
    try:
        assert session.pipeline.size_choice == size and session.pipeline.target_fps == target
    finally:
        session.pipeline.stop()


def test_command_line_palette_applies_to_every_entry_as_alpha_does():
    from app.kiosk.config import with_live_options
    from app.live.pipeline import LiveOptions

    config = parse_config("[[playlist]]\nstyle = 'a'\npalette = 0.3\n[[playlist]]\nstyle = 'b'\n", "kiosk.toml")
    assert [i.palette for i in with_live_options(config, LiveOptions()).playlist] == [0.3, None]  # the file's
    over = with_live_options(config, LiveOptions(palette=0.7)).playlist
    assert [(i.style, i.palette) for i in over] == [("a", 0.7), ("b", 0.7)]
