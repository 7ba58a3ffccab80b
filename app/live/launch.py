"""From the command line's :class:`LiveOptions` to a headless run: the styles (the first one when
none is named), the source (with the camera-to-demo fallback when no window can open), the
probe that makes a bad file fail before the model loads, then the pipeline."""
from __future__ import annotations

from typing import Callable, Sequence

from app.errors import UserError
from app.live.sources import camera_or_demo, open_source, probe
from app.live.pipeline import LiveOptions, LivePipeline, run_headless
from app.live.recorder import timestamped_path
from app.live.temporal import DEFAULT_STRENGTH
from app.live.adaptive import DEFAULT_SIZE
from app.live.worker import StylizerLike
from app.paths import videos_dir
from app.styles import Style, StyleLibrary

DEMO_FRAMES = 200  # frames the no-display demo records


def resolve_styles(names: Sequence[str], library: StyleLibrary | None = None) -> list[Style]:
    """The named styles, else the library's first; each image is loaded now, so a broken one fails
    before the model loads."""
    library = library or StyleLibrary()
    styles = [library.resolve(s) for s in names]
    if not styles:
        styles = library.all()[:1]
        if not styles:
            raise UserError("no styles found: pass --style IMAGE, or add styles with the window")
    for style in styles:
        style.load()
    return styles


def run_options(opts: LiveOptions, make_stylizer: Callable[[], StylizerLike], *, demo: bool = False) -> int:
    """``--no-window`` (or ``demo``: no display server, so a few hundred frames recorded to the videos
    folder instead of the window). Every check comes before ``make_stylizer`` loads the model."""
    styles = resolve_styles(opts.styles)
    source = camera_or_demo(opts.source, opts.camera_size) if demo else open_source(opts.source, opts.camera_size)
    probe(source)
    frames, record = opts.frames, opts.record
    if demo:
        frames = frames or DEMO_FRAMES
        record = record or timestamped_path(videos_dir(), ".mp4")
        what = "the built-in demo" if source.name == "demo" else source.name
        print(f"No display server found (DISPLAY and WAYLAND_DISPLAY are unset), so instead of the window "
              f"this runs {frames} frames from {what} headless and records them to {record}.", flush=True)
    stylizer = make_stylizer()
    pipeline = LivePipeline(stylizer, source, mirror=bool(opts.mirror))
    pipeline.stabilize = DEFAULT_STRENGTH if opts.stabilize is None else opts.stabilize
    future = pipeline.select_styles(styles, opts.mix, alpha=1.0 if opts.alpha is None else opts.alpha,
                                    color=opts.color or "none", palette=opts.palette)
    pipeline.set_size(opts.size or DEFAULT_SIZE, opts.target_fps)
    if opts.virtual_camera:
        pipeline.start_virtual_camera()
    pipeline.worker.start()
    try:
        future.result()  # the style is encoded before the clock starts
    except BaseException:
        pipeline.stop()
        raise
    run_headless(pipeline, frames, record)
    return 0
