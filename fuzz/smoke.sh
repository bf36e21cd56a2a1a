#!/usr/bin/env bash
# Runs every fuzz target for a short while (CI does, after the test suite),
# seeded with the independent H.323 stack's recorded messages and calls
# from ../shared/vectors/h323, the RFC 4475 SIP torture messages and the
# messages of our SIPp scenarios (seed_sip.pl). A crash fails the run and leaves its input
# in fuzz/artifacts/. FUZZ_SECONDS sets the time per target (default 20).
set -euo pipefail
cd "$(dirname "$0")"
vectors=../../shared/vectors/h323
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
# cargo-fuzz needs nightly flags (-Z sanitizer); the stable toolchain takes them so.
export RUSTC_BOOTSTRAP=1
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/mra-target}-fuzz"

mkdir -p corpus/h225_call corpus/h245 corpus/ras corpus/sip_core corpus/sip_tcp corpus/sdp corpus/sip_fields
./seed_sip.pl ../../shared/vectors/sip-torture ../tests/sipp corpus
# Call signalling: every TCP segment of the recorded calls.
for cap in "$vectors"/captures/*-call.pcap; do
  tshark -r "$cap" -Y "tcp.len > 0" -T fields -e frame.number -e tcp.payload 2>/dev/null \
    | while read -r frame hex; do
        printf '%s' "$hex" | perl -ne 'print pack("H*", $_)' > "corpus/h225_call/$(basename "$cap" .pcap)-$frame"
      done
done
cp "$vectors"/messages/*.h245 corpus/h245/
tshark -r "$vectors"/captures/ras-grq.pcap -T fields -e udp.payload 2>/dev/null \
  | perl -ne 'chomp; print pack("H*", $_)' > corpus/ras/grq

for target in $(cargo fuzz list); do
  cargo fuzz run -O --target-dir "$target_dir" "$target" -- \
    -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1
done
