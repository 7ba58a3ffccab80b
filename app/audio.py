"""The sound of a stylized video: the source's audio track, put back beside the new picture.

The picture is written first (app.video_io.VideoWriter); then one remux pass copies its video
packets untouched and adds the source's first audio stream: packets copied as they are where the
output container takes the codec, else decoded and re-encoded to AAC. The file is replaced only
when the new one is complete, so a failure leaves the silent video, never a broken one.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av

from app.errors import reason
from app.video_io import FRAGMENTED_MP4


def add_audio(source: Path, video: Path) -> str:
    """Give ``video`` the first audio track of ``source``. Returns "" when done or when the
    source has no audio, else why it could not (for one ``warning:`` line)."""
    try:
        with av.open(str(source)) as src:
            if not src.streams.audio:
                return ""
    except (av.FFmpegError, OSError) as exc:
        return reason(exc)
    partial = video.with_name(f".{video.stem}.audio-partial{video.suffix}")
    problem = ""
    for reencode in (False, True):
        try:
            _remux(source, video, partial, reencode)
        except (av.FFmpegError, OSError, ValueError) as exc:
            problem = reason(exc)
            partial.unlink(missing_ok=True)
            continue
        os.replace(partial, video)
        return ""
    return problem


def _remux(source: Path, video: Path, target: Path, reencode: bool) -> None:
    """``video``'s picture and ``source``'s audio into ``target``; audio aligned to where the
    source's picture starts (the stylized video starts at 0)."""
    options = {"movflags": FRAGMENTED_MP4} if target.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    with av.open(str(source)) as src, av.open(str(video)) as pic, \
            av.open(str(target), mode="w", options=options) as out:
        a_in = src.streams.audio[0]
        v_in = pic.streams.video[0]
        v_out = out.add_stream_from_template(v_in)
        if reencode:
            rate = a_in.codec_context.sample_rate or 48000
            a_out = out.add_stream("aac", rate=rate)
            a_out.layout = "mono" if a_in.codec_context.channels == 1 else "stereo"
            a_out.format = "fltp"
            a_out.codec_context.time_base = Fraction(1, rate)
        else:
            if a_in.codec_context.name not in out.supported_codecs:
                raise ValueError(f"{target.suffix} does not take {a_in.codec_context.name} audio")
            a_out = out.add_stream_from_template(a_in)
        start = _picture_start(src)  # seconds
        for packet in pic.demux(v_in):
            if packet.size == 0 or (packet.pts is None and packet.dts is None):
                continue  # the demuxer's end marker (Matroska leaves dts unset on B-frame streams)
            packet.stream = v_out
            out.mux(packet)
        shift = round(start / a_in.time_base) if a_in.time_base else 0
        for packet in src.demux(a_in):
            if packet.size == 0 or (packet.pts is None and packet.dts is None):
                continue
            if reencode:
                for frame in packet.decode():
                    if frame.pts is not None:
                        frame.pts -= round(start / frame.time_base) if frame.time_base else 0
                        if frame.pts < 0:
                            continue
                    out.mux(a_out.encode(frame))
                continue
            if packet.pts is not None:
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                if packet.pts < 0:
                    continue
            packet.stream = a_out
            out.mux(packet)
        if reencode:
            out.mux(a_out.encode(None))


def _picture_start(container) -> float:
    video = container.streams.video[0] if container.streams.video else None
    if video is None or video.start_time is None or video.time_base is None:
        return 0.0
    return float(video.start_time * Fraction(video.time_base))

