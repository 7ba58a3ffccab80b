"""Kiosk mode: the live app as an unattended installation piece (fullscreen, playlist, self-healing).

config.py (TOML -> KioskConfig, fully validated), playlist.py (pure style timeline and
cross-fades), watchdog.py (restarts a stalled engine), session.py (pipeline + playlist +
watchdog + active hours, no Qt), report.py (soak figures), run.py (logging, signals,
headless loop). The fullscreen window lives in app/ui/kiosk_window.py (the only Qt).
"""
