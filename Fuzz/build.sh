#!/usr/bin/env bash
# Builds every fuzz target the OSS-Fuzz way (also used by .clusterfuzzlite/build.sh):
#   $OUT/<target>                    libFuzzer binaries (fuzzer + $SANITIZER, coverage on)
#   $OUT/<target>_seed_corpus.zip    the seeds and kept crashes of Corpus/<Target>/
#   $OUT/<target>.dict, .options     the SMTP dictionary, and libFuzzer options naming it
# Target names are lower-case with underscores: smtp_command_line, smtp_reply, …
# Try it here:  OUT=$(mktemp -d) bash Fuzz/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the output folder}"
SANITIZER=${SANITIZER:-address}
mkdir -p "$OUT"
# Every folder of Fuzz/ is a target (Package.swift, the harness and Corpus/ agree: CorpusReplayTests);
# the canary only proves that a crash is caught, so it is not shipped.
targets=()
for d in Fuzz/*/; do t=$(basename "$d"); [ "$t" = Canary ] || targets+=("$t"); done
snake() { echo "smtp_$(echo "$1" | sed -E 's/([a-z0-9])([A-Z])/\1_\2/g; s/([A-Z]+)([A-Z][a-z])/\1_\2/g' | tr 'A-Z' 'a-z')"; }
flags=(--sanitize=fuzzer)
swiftc_sanitizers=fuzzer
case "$SANITIZER" in
  address) flags+=(--sanitize=address); swiftc_sanitizers=fuzzer,address ;;
  undefined) flags+=(--sanitize=undefined); swiftc_sanitizers=fuzzer,undefined ;;
  coverage|none) ;;
  *) echo "unsupported SANITIZER=$SANITIZER" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
  # One product per build call (docs/design.md, "Facts the code relies on"); swift-driver keeps only the last -sanitize=, hence the joined list.
  # -enforce-exclusivity=checked comes after Package.swift's hot-path flag: fuzzing keeps the run-time checks.
  swift build -c release --scratch-path .build-fuzz --product "Fuzz$t" "${flags[@]}" \
    -Xswiftc "-sanitize=$swiftc_sanitizers" -Xswiftc -DFUZZING -Xswiftc -enforce-exclusivity=checked >&2
  name=$(snake "$t")
  cp ".build-fuzz/release/Fuzz$t" "$OUT/$name"
  (cd "Corpus/$t" && zip -q -r -j "$OUT/${name}_seed_corpus.zip" .)
  cp Fuzz/smtp.dict "$OUT/$name.dict"
  # malloc_context_size: as smtpsim fuzz runs (Sources/smtpsim/Fuzz.swift, asanOptions).
  printf '[libfuzzer]\ndict = %s.dict\nmax_len = 4096\ntimeout = 10\n[asan]\nmalloc_context_size = 4\n' "$name" > "$OUT/$name.options"
  echo "built $OUT/$name"
done
