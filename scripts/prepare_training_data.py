#!/usr/bin/env python3
"""Build the folders for training the AdaIN decoder on a CPU, reproducibly.

    python scripts/prepare_training_data.py --out DIR [--install] [--media DIR]

writes::

    DIR/train/content/*.jpg     photos (short side 512) and multi-scale crops of them
    DIR/train/style/*.jpg       paintings (+ ~8 colour/crop variants each), textures,
                                wallpaper art and procedurally generated images
    DIR/holdout/content/*.jpg   HOLDOUT_CONTENT originals (none of their crops is in train/)
    DIR/holdout/style/*.jpg     HOLDOUT_STYLE originals (none of their variants is in train/)
    DIR/MANIFEST.json           every file with its source (package/path) and licence note

Sources (Debian packages are skipped, with a message, when not installed):

* content: photographic wallpapers of ``plasma-workspace-wallpapers`` and
  ``mate-backgrounds`` (``gnome-backgrounds`` 43 ships only abstract/vector art, which
  goes to the styles instead), the puzzle photos of ``palapeli-data``, the photos that
  ``gcompris-qt-data`` keeps in its Qt resource files, and scikit-image's bundled
  colour photos;
* style: the style media folder (``--media``/style), the paintings of
  ``gcompris-qt-data`` (jigsaw pieces reassembled from its ``paintings`` activity, and
  the whole Van Gogh paintings of its ``details`` activity), GIMP patterns
  (``gimp-data``), scikit-image textures, abstract wallpaper art and generated images.

Everything random comes from ``SEED`` and the id of the item, so a run gives the same
bytes whatever else is installed. ``--export-builtin-styles DIR`` writes the app's
built-in styles (``assets/styles``) from the same sources.

The work is done by the package beside this file, scripts/training_data/: common (the choices,
items, errors), licences, sources, images, generated (procedural styles) and build (the output).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_data.common import SourceMissing, UserError, run_install, say  # scripts/ is on sys.path here


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Writes train/ and holdout/ content+style folders and MANIFEST.json.")
    ap.add_argument("--out", help="output folder (created; must be new, empty or a previous output)")
    ap.add_argument("--install", action="store_true", help="apt-get install the Debian packages used first")
    ap.add_argument("--media",
                    help="folder holding style/ (default: $ADAIN_MEDIA_DIR, ../shared/media, /work/shared/media)")
    ap.add_argument("--export-builtin-styles", metavar="DIR", help="write the app's built-in styles to DIR and exit")
    args = ap.parse_args(argv)
    try:
        if not args.out and not args.export_builtin_styles:
            raise UserError("--out DIR is required")
        if args.install:
            run_install()
        try:  # the heavy packages load only now: --help and the argument errors are instant
            from training_data.build import build, export_builtin_styles, find_media
        except ImportError as exc:  # pragma: no cover - environment problem
            raise UserError(f"missing Python package: {exc.name} "
                            "(pip install numpy pillow opencv-python-headless tqdm)") from None
        if args.export_builtin_styles:
            try:
                export_builtin_styles(Path(args.export_builtin_styles))
            except SourceMissing as exc:
                raise UserError(str(exc)) from None
            if not args.out:
                return 0
        media = find_media(args.media)
        m = build(Path(args.out), media)
        c = m["counts"]
        say(f"done in {m['_elapsed']:.0f} s: train {c.get('train/content', 0)} contents "
            f"({m['_n_crops']} of them crops), {c.get('train/style', 0)} styles; hold-out "
            f"{c.get('holdout/content', 0)} contents, {c.get('holdout/style', 0)} styles; "
            f"{m['total_bytes'] / 1e6:.1f} MB in {args.out}")
        if m["skipped"]:
            say(f"skipped: {len(m['skipped'])} source(s)/file(s), listed in MANIFEST.json")
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
