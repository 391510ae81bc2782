#!/usr/bin/env bash
# Proves the suites can fail: applies one deliberate bug at a time, runs the test that
# must catch it, and restores the file. Exit 1 if a bug survives.
# Usage: make break-on-purpose   (needs a clean work tree for the files it touches)
set -uo pipefail
cd "$(dirname "$0")/.."
survived=0

mutate() { # name file python-replace-old python-replace-new test-filter [test-binary]
  local name="$1" file="$2" old="$3" new="$4" filter="$5" binary="${6:-state_machine}"
  # The file is restored with git checkout: never run over uncommitted work.
  if ! git diff --quiet HEAD -- "$file"; then
    echo "refusing: $file has uncommitted changes (commit or stash them first)" >&2
    exit 2
  fi
  python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
assert old in text, f"mutation anchor not found in {path}: {old!r}"
open(path, "w").write(text.replace(old, new, 1))
PY
  if cargo nextest run --test "$binary" "$filter" >/dev/null 2>&1; then
    echo "SURVIVED: $name"; survived=1
  else
    echo "caught:   $name"
  fi
  git checkout -q -- "$file"
}

mutate "two-phase update skipped (start at phase true)" functions/shared/src/domain/model.rs \
  $'            phase: Phase::Disable,\n            update_started: false,' \
  $'            phase: Phase::Enable,\n            update_started: false,' a_put_secret_value
mutate "guarded resources not recreated (emulator ignores Conditions)" tests/emulator/rotatetoken_emulator.py \
  '    parsing.ResourceMap.update = rm_update' '    pass  # mutation' a_put_secret_value
mutate "stacks without the parameter selected" functions/shared/src/domain/discovery.rs \
  '.filter(|s| s.parameter(&settings.parameter).is_some())' '.filter(|_| true)' a_put_secret_value
mutate "a failed stack reported as refreshed" functions/shared/src/domain/report.rs \
  '        Outcome::Waiting => Outcome::Failed,' '        Outcome::Waiting | Outcome::Failed => Outcome::Refreshed,' a_failed_phase_two
mutate "data-loss guard ignored before phase one" functions/shared/src/domain/refresh.rs \
  'if task.phase == Phase::Disable && !task.guard_passed && token_is_true {' \
  'if task.phase == Phase::Disable && !task.guard_passed && token_is_true && false {' a_guarded_bucket data_loss_guard
mutate "phase two not retried" functions/shared/src/domain/refresh.rs \
  'pub const ENABLE_ATTEMPTS: u32 = 3;' 'pub const ENABLE_ATTEMPTS: u32 = 1;' a_failed_phase_two
mutate "throttled calls not retried" functions/shared/src/aws/mod.rs \
  'RetryConfig::standard().with_max_attempts(8)' 'RetryConfig::disabled()' under_30_percent faults
mutate "report's sns:Publish grant removed" template.yaml \
  '              Action: sns:Publish' '              Action: sns:ListTopics' in_its_own_account iam
exit $survived
