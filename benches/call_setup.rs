//! Call setups per second through `mra run`, against SIPp uac→uas direct on
//! the same machine in the same run. Both legs use SIPp's built-in `uac`
//! scenario (INVITE, ACK, BYE) with the same call count and concurrency;
//! every call must succeed; enough calls that SIPp's start-up is noise.
//! Run: `cargo bench --bench call_setup`.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::Mra;
use support::{median, sipp_uac, sipp_uas};

const CALLS: usize = 5000;
const CONCURRENT: usize = 50;
const ROUNDS: usize = 5;

fn main() {
    let mra = Mra::start_with(&[
        ("MRA_MEDIA_PORT_MIN", "20000"),
        ("MRA_MEDIA_PORT_MAX", "29999"),
        ("RUST_LOG", "warn"),
    ]);
    mra.create_meeting("123456789", None);
    let (uas_proc, uas_addr) = sipp_uas();
    println!("SIPp uas on {uas_addr}, mra on {}", mra.sip);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        direct.push(sipp_uac(uas_addr, "123456789", CALLS, CONCURRENT));
        through.push(sipp_uac(mra.sip, "123456789", CALLS, CONCURRENT));
    }
    drop(uas_proc);
    let expected = (CALLS * ROUNDS) as u64;
    assert_eq!(mra.metric("mra_calls_admitted_total"), expected);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mra.http("GET", "/api/v1/calls", None).1 != "[]" {
        assert!(Instant::now() < deadline, "calls left over");
    }
    println!("rounds, direct: {direct:.0?}; through mra: {through:.0?}");
    let (d, t) = (median(direct), median(through));
    println!(
        "call setups/s over UDP ({CALLS} calls, {CONCURRENT} concurrent, median of {ROUNDS}): \
         SIPp uac→uas direct {d:.0}, through mra {t:.0}, ratio {:.2}",
        t / d
    );
}
