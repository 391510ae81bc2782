#!/usr/bin/env bash
# Proves the suites can fail: applies one deliberate bug at a time, runs the test that
# must catch it, and restores the file. Exit 1 if a bug survives.
# Usage: make break-on-purpose   (needs a clean work tree for the files it touches)
set -uo pipefail
cd "$(dirname "$0")/.."
# A property test that fails under a deliberate bug must not leave a regression file behind.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
survived=0

mutate() { # name file python-replace-old python-replace-new test-filter [test-binary | lib | emulator:<module>]
  local name="$1" file="$2" old="$3" new="$4" filter="$5" binary="${6:-state_machine}"
  # The file is restored with git checkout: never run over uncommitted work.
  if ! git diff --quiet HEAD -- "$file"; then
    echo "refusing: $file has uncommitted changes (commit or stash them first)" >&2
    exit 2
  fi
  if ! python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
assert old in text, f"mutation anchor not found in {path}: {old!r}"
open(path, "w").write(text.replace(old, new, 1))
PY
  then
    echo "BROKEN:   $name (its anchor is gone: update the mutation)"; survived=1
    return
  fi
  local target=(--test "$binary")
  [ "$binary" = lib ] && target=(--workspace --lib)
  # A deliberate bug must build: one the compiler (or clippy's -D warnings) refuses would
  # be "caught" by a build failure, proving nothing about the tests.
  if [[ "$binary" != emulator:* ]] && ! cargo nextest run "${target[@]}" --no-run >/dev/null 2>&1; then
    echo "BROKEN:   $name (does not build: make it compile, e.g. std::hint::black_box(false) for a constant)"; survived=1
    git checkout -q -- "$file"
    return
  fi
  if [[ "$binary" == emulator:* ]]; then
    # The local AWS's own suite (tests/emulator): `emulator:<module>`, the filter a test name.
    (cd tests/emulator && ../../.venv/bin/python -m unittest -k "$filter" "${binary#emulator:}") >/dev/null 2>&1
  else
    cargo nextest run "${target[@]}" "$filter" >/dev/null 2>&1
  fi
  if [ $? -eq 0 ]; then
    echo "SURVIVED: $name"; survived=1
  else
    echo "caught:   $name"
  fi
  git checkout -q -- "$file"
}

mutate "a replica's ARN is not the secret's" functions/shared/src/domain/model/secret.rs \
  '                .filter(|r| !r.is_empty())' '                .filter(|r| r.is_empty())' replica runs
mutate "the secret's name means nothing in a replica's region" functions/shared/src/domain/model/secret.rs \
  '        let here = stack.region == self.region() || self.replica_regions.contains(&stack.region);' '        let here = stack.region == self.region();' a_replicas_arn lib
mutate "a secret whose replicas cannot be read is searched as if it had none, silently" functions/shared/src/service/scope.rs \
  '        Err(e) => Some(FailedTarget {' '        Err(e) => std::hint::black_box(false).then(|| FailedTarget {' a_name_selects targets
exit $survived
