//! What the benchmarks share: SIPp's built-in uac and uas as the direct
//! path they are compared with, and the median of rounds.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::common::{free_port, free_ports};

/// A process killed (by PID) when dropped, also when the benchmark panics.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIPp's built-in uas on a free port.
pub fn sipp_uas() -> (Running, SocketAddr) {
    let port = free_port();
    let child = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_ports(4).to_string(), "-nostdin"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (package sip-tester) must be installed");
    (Running(child), ([127, 0, 0, 1], port).into())
}

/// SIPp's built-in uac (INVITE, ACK, BYE at once) placing `calls` calls,
/// `concurrent` at a time, to `service@target`; every call must succeed.
/// Returns call setups per second.
pub fn sipp_uac(target: SocketAddr, service: &str, calls: usize, concurrent: usize) -> f64 {
    let errors = std::env::temp_dir().join(format!("sipp-uac-{}-errors.log", target.port()));
    let started = Instant::now();
    let out = Command::new("sipp")
        .args(["-sn", "uac", "-s", service, "-i", "127.0.0.1"])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
        ])
        .args(["-m", &calls.to_string(), "-l", &concurrent.to_string()])
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
    calls as f64 / elapsed.as_secs_f64()
}

/// The median of a benchmark's rounds.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
