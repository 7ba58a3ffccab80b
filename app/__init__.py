"""AdaIN Live: the running system (capture, engine, sinks, UI, kiosk, CLI)."""
__version__ = "0.1.0"
APP_NAME = "adain-live"
