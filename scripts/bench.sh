#!/usr/bin/env bash
# Runs the benchmark harness (bench/cmd/bench): API calls, CPU and memory of a sweep, decision
# throughput, event path latency, Lambda size and start. Prints a table and writes
# bench/results/<date>-<rev>.json. See bench/README.md.
#
#   make bench                      everything (about 5 minutes on 2 cores, half of it moto_server)
#   BENCH_QUICK=1 make bench        a quick subset (about 80 seconds)
#   BENCH_SMOKE=1 make bench        every harness path on tiny inputs (about 25 seconds; .ci/run
#                                   runs it); the result goes to a temporary directory
#   BENCH_PARTS=1,2 make bench      only some parts (1 to 5)
#   BENCH_OUT=DIR make bench        write the result into DIR
#
# Needs moto_server (pip install 'moto[server]') for parts 1, 2, 4 and 5, and aws-lambda-rie for
# part 5 (go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
[[ "${BENCH_SMOKE:-}" == 1 ]] && args+=(-smoke)
[[ "${BENCH_QUICK:-}" == 1 ]] && args+=(-quick)
[[ -n "${BENCH_PARTS:-}" ]] && args+=(-parts "$BENCH_PARTS")
[[ -n "${BENCH_OUT:-}" ]] && args+=(-out "$BENCH_OUT")
exec go run ./bench/cmd/bench "${args[@]}" "$@"
