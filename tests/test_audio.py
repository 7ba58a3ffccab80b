"""A stylized video keeps the source's sound: copied where the container takes it, else AAC."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import app.audio
from app.audio import add_audio
from app.cli import main
from app.video_io import VideoWriter, probe_frames

RATE = 44100


def video_with_audio(path: Path, codec: str = "aac", seconds: float = 2.0, fps: int = 12) -> Path:
    """64x48 frames and a 440 Hz stereo tone of the same length (PyAV writes both)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(codec, rate=RATE)
        audio.layout = "stereo"
        for i in range(int(seconds * fps)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8 % 256, np.uint8),
                                                            format="rgb24")))
        out.mux(video.encode(None))
        fmt = audio.codec_context.format.name
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)
        step = audio.codec_context.frame_size or 1024
        for k in range(0, len(tone), step):
            both = np.stack([tone[k:k + step]] * 2)
            data = both if fmt.endswith("p") else both.T.reshape(1, -1)
            data = (data * 32767).astype(np.int16) if fmt.startswith("s16") else data.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")
            frame.sample_rate, frame.pts = RATE, k
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


def silent_video(path: Path, frames: int = 24, fps: int = 12) -> Path:
    with VideoWriter(path, fps, 64, 48) as writer:
        for _ in range(frames):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    return path


def audio_of(path: Path) -> tuple[str, float]:
    """(codec, seconds of decoded audio) of the first audio stream."""
    with av.open(str(path)) as container:
        assert container.streams.audio, f"{path} has no audio"
        stream = container.streams.audio[0]
        samples = sum(f.samples for p in container.demux(stream) for f in p.decode())
        return stream.codec_context.name, samples / stream.codec_context.sample_rate


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_aac_audio_is_copied_into_the_stylized_video(tmp_path, suffix):
    source = video_with_audio(tmp_path / "source.mp4")
    target = silent_video(tmp_path / f"out{suffix}")
    assert add_audio(source, target) == ""
    codec, seconds = audio_of(target)
    assert codec == "aac" and seconds == pytest.approx(2.0, abs=0.1)
    assert probe_frames(target) == (24, 64, 48)  # the picture is untouched


def test_audio_an_mp4_cannot_carry_is_re_encoded_to_aac(tmp_path):
    source = video_with_audio(tmp_path / "source.mkv", codec="pcm_s16le")
    target = silent_video(tmp_path / "out.mp4")
    assert add_audio(source, target) == ""
    codec, seconds = audio_of(target)
    assert codec == "aac" and seconds == pytest.approx(2.0, abs=0.1)
    assert not list(tmp_path.glob(".*partial*"))  # no leftovers


def test_a_source_without_audio_leaves_the_video_as_it_is(tmp_path):
    source = silent_video(tmp_path / "source.mp4")
    target = silent_video(tmp_path / "out.mp4")
    before = target.read_bytes()
    assert add_audio(source, target) == ""
    assert target.read_bytes() == before


def test_audio_that_cannot_be_kept_is_one_reason_and_the_silent_video_stays(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise av.FFmpegError(22, "Invalid argument")

    monkeypatch.setattr(app.audio, "_remux", broken)
    source = video_with_audio(tmp_path / "source.mp4")
    target = silent_video(tmp_path / "out.mp4")
    before = target.read_bytes()
    reason = add_audio(source, target)
    assert reason and "\n" not in reason
    assert target.read_bytes() == before


def test_stylize_keeps_the_sound_of_a_video(tmp_path, primed_home, slim_decoder_file, capsys):
    source = video_with_audio(tmp_path / "clip.mp4")
    target = tmp_path / "out.mp4"
    rc = main(["stylize", str(source), "--style", "poppies", "-o", str(target), "--size", "32", "--quiet",
               "--precision", "fp32", "--decoder", str(slim_decoder_file), "--stabilize", "0"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "warning" not in err
    assert probe_frames(target)[0] == 24
    codec, seconds = audio_of(target)
    assert codec == "aac" and seconds == pytest.approx(2.0, abs=0.1)
