#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in build-fuzz (clang-14, ASan and
# UBSan) and runs each for SECONDS (default 60) from its seed corpus:
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 10 sql json_args
# Seeds are copied into build-fuzz/fuzz/corpus/TARGET, which keeps growing from
# run to run; tests/fuzz/corpus is never written. Prints, per target, the
# executions, executions per second and whether it failed (crash, sanitizer
# report, timeout, out of memory) with the file holding the failing input.
# Exits non-zero when a target failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

# target and -max_len: inputs a little longer than the largest realistic one.
declare -A max_len=(
  [bsatn_value]=4096
  [module_def]=16384
  [sql]=4096
  [client_message]=4096
  [json_args]=8192
  [http_request]=16384
)
all=(bsatn_value module_def sql client_message json_args http_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "unknown fuzz target: $t (targets: ${all[*]})" >&2; exit 2; }
done

missing=()
for p in clang-14 libfuzzer-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || exit 1
fi

build=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$build" -DORRERY_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Sanitize || exit 1
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target $(printf 'orrery_fuzz_%s ' "${targets[@]}") || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work="$build/fuzz"
summary=()
failed=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/orrery_fuzz_$t"
  corpus="$work/corpus/$t"
  crashes="$work/crashes"
  log="$work/$t.log"
  mkdir -p "$corpus" "$crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "== $t: ${seconds}s, corpus $corpus ($(ls "$corpus" | wc -l) inputs), log $log"
  "$bin" "$corpus" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/$t-" ${dict[@]+"${dict[@]}"} >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$runs" ]; then  # no final stats after a crash: the last progress line
    runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    speed=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  fi
  if [ $status -eq 0 ]; then
    outcome="ok"
  else
    failed=1
    artifact=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
    kind=$(grep -o -m1 -E 'ERROR: (libFuzzer: [a-z -]+|AddressSanitizer: [a-z-]+|LeakSanitizer: [a-z ]+)|runtime error: .*|fuzz check failed.*' "$log" | head -1)
    outcome="FAILED (exit $status): ${kind:-see the log}; input: ${artifact:-none written}; log: $log"
    grep -E -m1 -A30 'ERROR: |runtime error: |fuzz check failed' "$log" | head -40
  fi
  summary+=("$(printf '%-15s executions %-10s exec/s %-7s %s' "$t" "${runs:-?}" "${speed:-?}" "$outcome")")
done

echo
echo "fuzzing, ${seconds}s per target:"
printf '  %s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then
  echo "a fuzz target failed: reproduce with $build/tests/fuzz/orrery_fuzz_TARGET INPUT"
  exit 1
fi
