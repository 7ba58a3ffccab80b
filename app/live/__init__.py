"""The live pipeline, one module per stage: sources -> capture (thread, one-slot feed) -> worker
(the engine thread, owner of the settings) -> sinks (recorder, virtual camera), wired by
pipeline.py; the OSC server, the speed governor, the flicker stabiliser and the latency/FPS window
it runs with, and launch.py for a headless run from the command line's options."""
