#!/usr/bin/env python3
"""Ship a training run's decoder: copy its fp16 export into models/weights/ and its sample
sheet into docs/, and print the figures the model card needs.

    python scripts/export_decoder.py ../runs/decoder-v1
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="training run folder (has decoder_fp16.pth, evals.jsonl)")
    parser.add_argument("--name", default="decoder_fp16.pth", help="file name under models/weights/")
    args = parser.parse_args()

    from app import weights  # noqa: PLC0415 - after sys.path

    source = args.run / "decoder_fp16.pth"
    net, meta = weights.load_decoder(source)  # refuses anything that does not load cleanly
    current = weights.encoder_id(None)
    trained_for = meta.get("encoder_fingerprint")
    if trained_for != current:
        # Runs started before stable encoder ids recorded a hash of the weights themselves.
        if trained_for != weights.fingerprint(weights.default_encoder()):
            print(f"error: {source} was trained against encoder {trained_for}, not the default {current}")
            return 2
        meta["encoder_fingerprint"] = current
    dest = REPO / "models" / "weights" / args.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    extra = {k: v for k, v in meta.items() if k not in ("format", "source", "state_dict")}
    weights.save_decoder(net, dest, **extra)
    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    if (args.run / "samples.jpg").is_file():
        shutil.copyfile(args.run / "samples.jpg", docs / "decoder_samples.jpg")

    losses = [json.loads(line) for line in (args.run / "losses.jsonl").read_text().splitlines() if line]
    evals = [json.loads(line) for line in (args.run / "evals.jsonl").read_text().splitlines() if line]
    tail = losses[-500:]
    mean = lambda key: sum(r[key] for r in tail) / len(tail)  # noqa: E731
    print(f"shipped {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    print(f"steps {meta.get('steps')}, train wall time {meta.get('train_seconds', 0) / 3600:.2f} h, "
          f"crop {meta.get('train_size')}, encoder {meta.get('encoder_fingerprint')}")
    print(f"last {len(tail)} steps: loss {mean('loss'):.3f}, content {mean('content'):.3f}, style {mean('style'):.4f}")
    if evals:
        e = evals[-1]
        print(f"held-out (step {e['step']}): content {e.get('heldout_content')}, style {e.get('heldout_style')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
