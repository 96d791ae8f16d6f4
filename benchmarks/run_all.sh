#!/usr/bin/env bash
# Run every benchmark and write its JSON result under benchmarks/results/.
#
#   bash benchmarks/run_all.sh                 # everything (about 2 h 15 min on 2 cores)
#   SKIP="soak loso" bash benchmarks/run_all.sh  # leave out the slow training/soak ones
#
# Run from anywhere; needs the project with its bench extra (pip install -e '.[bench]') and
# the real WESAD E4 recordings at ../shared/data/wesad_e4. The benchmarks run one after another
# because each measures CPU or latency on this machine; run nothing else meanwhile (each JSON
# records the load average before and after its measurements).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT=benchmarks/results
mkdir -p "$OUT"
skip() { [[ " ${SKIP:-} " == *" $1 "* ]]; }
run() {
  local name=$1; shift
  if skip "$name"; then echo "== $name: skipped" >&2; return; fi
  echo "== $name: $*" >&2
  "$@"
}
run inference sh -c "$PY benchmarks/bench_helo_inference.py > $OUT/helo_inference.json"
run features "$PY" benchmarks/bench_features.py --out "$OUT/features.json"
run offline "$PY" benchmarks/bench_offline.py --out "$OUT/offline.json"
run ingest "$PY" benchmarks/bench_ingest.py --out "$OUT/ingest.json"
run latency "$PY" benchmarks/bench_latency.py --out "$OUT/latency.json"
run capacity "$PY" benchmarks/bench_capacity.py --out "$OUT/capacity.json"
run soak "$PY" benchmarks/bench_soak.py --out "$OUT/soak.json"
run loso sh -c "$PY benchmarks/bench_loso.py > $OUT/loso_bench.json"
echo "results in $OUT/" >&2
