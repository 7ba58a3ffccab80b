"""The live pipeline, one module per stage: capture -> worker (engine) -> sinks (recorder,
virtual camera), wired by pipeline.py; the OSC server, the speed governor and the flicker
stabiliser it runs with."""
