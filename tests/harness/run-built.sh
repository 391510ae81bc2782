#!/bin/sh
# The `cargo` that `cargo lambda watch` runs in the test harness (tests/harness/lib.rs,
# Functions::start). watch starts every function instance with
# `cargo run ... --bin <function>`: a freshness check of the whole workspace each time,
# serialised on cargo's lock, and a pipeline test starts dozens of instances. The harness
# builds the functions once per test process, so an instance runs its binary directly.
# Anything else goes to the real cargo.
if [ "$1" = run ]; then
  bin="" prev=""
  for arg in "$@"; do
    [ "$arg" = "--" ] && break
    [ "$prev" = "--bin" ] && bin="$arg"
    prev="$arg"
  done
  if [ -n "$bin" ]; then
    exec "$RT_TARGET_DIR/${RT_PROFILE_DIR:-debug}/$bin"
  fi
fi
exec "$RT_REAL_CARGO" "$@"
