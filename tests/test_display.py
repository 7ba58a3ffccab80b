"""Before Qt loads: a window that cannot open is one line naming what to install, never a Qt abort."""
from __future__ import annotations

import sys

import pytest

import app.cli.live as live_cli
from app import display
from app.cli import main
from app.errors import UserError
from conftest import assert_one_line

ON_LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux-only")


@pytest.fixture
def x11(monkeypatch: pytest.MonkeyPatch) -> None:
    """An X11 session where Qt picks its platform itself."""
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


def without(*sonames: str):
    """A fake library lookup where ``sonames`` are not installed."""
    return lambda soname: soname not in sonames


@ON_LINUX
def test_missing_xcb_libraries_are_named_with_their_packages(x11):
    with pytest.raises(UserError) as err:
        display.check_window_libraries(without("libxcb-icccm.so.4", "libxcb-keysyms.so.1"))
    message = str(err.value)
    assert_one_line(message)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1`" in message
    assert "--no-window" in message


@ON_LINUX
def test_a_package_is_named_once_even_when_several_of_its_libraries_are_missing(x11):
    with pytest.raises(UserError, match=r"install libglib2\.0-0`"):
        display.check_window_libraries(without("libglib-2.0.so.0", "libgthread-2.0.so.0"))


@ON_LINUX
def test_nothing_is_said_when_every_library_loads(x11):
    display.check_window_libraries(lambda soname: True)


@pytest.mark.parametrize("env", [{"QT_QPA_PLATFORM": "offscreen"}, {"QT_QPA_PLATFORM": "wayland"},
                                 {"WAYLAND_DISPLAY": "wayland-0"}])
def test_a_platform_other_than_x11_is_not_checked_for_x11_libraries(x11, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    display.check_window_libraries(lambda soname: False)


@ON_LINUX
def test_an_explicit_xcb_platform_is_checked(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    with pytest.raises(UserError):
        display.check_window_libraries(without("libxcb-cursor.so.0"))


def test_the_real_lookup_finds_libc_and_not_a_made_up_library():
    assert display.loadable("libc.so.6") == sys.platform.startswith("linux")
    assert not display.loadable("libadain-no-such-library.so.0")


@ON_LINUX
@pytest.mark.parametrize("argv", [["--source", "demo"], ["--kiosk", "--source", "demo"]])
def test_the_window_command_stops_in_one_line_with_exit_2_before_the_model_or_qt_loads(x11, monkeypatch, capsys,
                                                                                       argv):
    monkeypatch.setattr(display, "loadable", without("libxcb-shape.so.0"))

    def no_model(args):
        raise AssertionError("the model loaded before the library check")

    monkeypatch.setattr(live_cli, "make_stylizer", no_model)
    qt_loaded = "PyQt6.QtWidgets" in sys.modules
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_one_line(err)
    assert err.startswith("error: the window needs system libraries") and "install libxcb-shape0`" in err
    assert ("PyQt6.QtWidgets" in sys.modules) == qt_loaded
