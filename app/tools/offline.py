"""Headless stylization of files: images, folders of images, and videos.

Inputs are all checked before any output is written; images are written atomically;
a video is written as it goes (fragmented MP4, so Ctrl-C or a crash leaves a playable
file) and removed if it fails for any reason other than an interruption.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from app.audio import add_audio
from app.engine import Settings, Stylizer
from app.errors import UserError
from app.images import is_image_path, load_image, save_image
from app.live.temporal import TemporalStabilizer
from app.video_io import VideoReader, VideoWriter, is_video_path


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path

    @property
    def is_video(self) -> bool:
        return is_video_path(self.source)


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """Expand folders (images and videos inside, sorted); refuse what cannot be stylized."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and (is_image_path(p) or is_video_path(p)))
            if not found:
                raise UserError(f"{item}: folder contains no images or videos")
            files += found
        elif not item.exists():
            raise UserError(f"{item}: no such file")
        elif is_image_path(item) or is_video_path(item):
            files.append(item)
        else:
            raise UserError(f"{item}: not an image or video file (by its extension)")
    return files


def check_inputs(files: list[Path]) -> None:
    """Decode every image, and the first frame of every video, so that a bad input fails
    before the model loads and before any output exists."""
    for f in files:
        if is_video_path(f):
            with VideoReader(f) as reader:
                if next(iter(reader), None) is None:
                    raise UserError(f"{f}: the video has no frames")
        else:
            load_image(f)


def plan_jobs(files: list[Path], output: Path) -> list[Job]:
    """Map inputs to outputs: one input may go to a file path; several go into a folder."""
    single_file_target = len(files) == 1 and output.suffix != "" and not output.is_dir()
    if single_file_target:
        source = files[0]
        if is_video_path(source) and not is_video_path(output):
            raise UserError(f"{output}: a video input needs a video output (.mp4, .mkv or .mov)")
        if is_image_path(source) and not is_image_path(output):
            raise UserError(f"{output}: an image input needs an image output (.png or .jpg)")
        parent = output.parent if str(output.parent) else Path(".")
        _check_writable_dir(parent)
        return [Job(source, output)]
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: several inputs need an output folder, and this is a file")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{output}: cannot create the output folder ({exc.strerror or exc})") from None
    _check_writable_dir(output)
    jobs, seen = [], set()
    for f in files:
        same = f.suffix.lower() if f.suffix.lower() in (".jpg", ".jpeg", ".png") else ".png"
        suffix = ".mp4" if is_video_path(f) else same
        target = output / f"{f.stem}{suffix}"
        if target in seen:
            raise UserError(f"two inputs would both be written to {target}; rename one")
        seen.add(target)
        jobs.append(Job(f, target))
    return jobs


def _check_writable_dir(folder: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{folder}: output folder is not writable")


def stylize_image(stylizer: Stylizer, job: Job, settings: Settings) -> None:
    save_image(stylizer.stylize(load_image(job.source), settings), job.target)


def stylize_video(stylizer: Stylizer, job: Job, settings: Settings, progress: bool = True,
                  stabilize: float = 0.0) -> int:
    """Stylize every frame, each at its source timestamp (variable frame rates stay as they
    are; the output starts at 0); returns the number of frames written.

    ``stabilize`` > 0 runs the causal temporal stabiliser (app.live.temporal) against flicker.
    """
    steady = TemporalStabilizer(stabilize)

    with VideoReader(job.source) as reader:
        frames = reader.timed()
        first = next(frames, None)
        if first is None:
            raise UserError(f"{job.source}: the video has no frames")
        h, w = first[0].shape[:2]
        start = first[1]  # None: no time base, so a fixed rate at reader.fps
        writer = VideoWriter(job.target, reader.fps, w, h, time_base=None if start is None else reader.time_base)
        interrupted = False
        try:
            with tqdm(total=reader.frame_count or None, unit="frame", desc=job.source.name,
                      disable=not progress, file=sys.stderr) as bar:
                for frame, pts in _chain(first, frames):
                    out = steady.stylize(stylizer, frame, settings)
                    writer.write(out, None if start is None or pts is None else max(0, pts - start))
                    bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
            raise
        except BaseException:
            writer.close()
            job.target.unlink(missing_ok=True)  # nothing half-written on failure
            raise
        finally:
            if interrupted:
                writer.close()
                print(f"interrupted: {job.target} keeps the {writer.frames_written} frames written so far",
                      file=sys.stderr)
        writer.close()
        problem = add_audio(job.source, job.target)
        if problem:
            print(f"warning: {job.target}: the audio of {job.source} could not be kept ({problem})", file=sys.stderr)
        if reader.damaged_tail:
            print(f"warning: {job.source} has a damaged tail; stylized the {writer.frames_written} "
                  "frames that decoded", file=sys.stderr)
        return writer.frames_written


def _chain(first, rest):
    yield first
    yield from rest
