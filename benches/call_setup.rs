//! Call setups per second through `mra run`, against SIPp uac→uas direct on
//! the same machine in the same run. Both legs use SIPp's built-in `uac`
//! scenario (INVITE, ACK, BYE) with the same call count and concurrency;
//! every call must succeed; enough calls that SIPp's start-up is noise.
//! Run: `cargo bench --bench call_setup`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, free_ports, Mra};

const CALLS: u32 = 5000;
const CONCURRENT: u32 = 50;
const ROUNDS: usize = 5;

/// Runs SIPp's built-in uac against `target`; returns call setups per second.
fn uac(target: SocketAddr, service: &str) -> f64 {
    let errors = std::env::temp_dir().join(format!("call-setup-{}-errors.log", target.port()));
    let started = Instant::now();
    let out = Command::new("sipp")
        .args(["-sn", "uac", "-s", service, "-i", "127.0.0.1"])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
        ])
        .args(["-m", &CALLS.to_string(), "-l", &CONCURRENT.to_string()])
        .args(["-r", "20000", "-rp", "1000", "-d", "0"])
        .args([
            "-nostdin",
            "-timeout",
            "120s",
            "-timeout_error",
            "-trace_err",
        ])
        .arg("-error_file")
        .arg(&errors)
        .arg(target.to_string())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("sipp (package sip-tester) must be installed");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "calls failed against {service}@{target}:\n{}\nunexpected messages:\n{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(&errors).unwrap_or_default()
    );
    let _ = std::fs::remove_file(&errors);
    f64::from(CALLS) / elapsed.as_secs_f64()
}

/// A process killed (by PID) when dropped, also when the benchmark panics.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIPp's built-in uas on a free port.
fn uas() -> (Running, SocketAddr) {
    let port = free_port();
    let child = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_ports(4).to_string(), "-nostdin"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    (Running(child), ([127, 0, 0, 1], port).into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mra = Mra::start_with(&[
        ("MRA_MEDIA_PORT_MIN", "20000"),
        ("MRA_MEDIA_PORT_MAX", "29999"),
        ("RUST_LOG", "warn"),
    ]);
    mra.create_meeting("123456789", None);
    let (uas_proc, uas_addr) = uas();
    println!("SIPp uas on {uas_addr}, mra on {}", mra.sip);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        direct.push(uac(uas_addr, "123456789"));
        through.push(uac(mra.sip, "123456789"));
    }
    drop(uas_proc);
    let expected = u64::from(CALLS) * ROUNDS as u64;
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
