"""The live window (PyQt6). The only package that imports Qt; it draws and forwards user
input to :class:`app.live.pipeline.LivePipeline`, and never runs the model itself.

Entry point: :func:`app.ui.app.run_window`.
"""
