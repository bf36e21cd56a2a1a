//! UDP through `mra lb` against nginx's stream proxy, side by side in one
//! run on the same machine: both get one worker on CPU 0 (when there are
//! two CPUs), both balance 2 UDP echo backends by a consistent hash of the
//! client, and the load generator and echo backends share CPU 1. Figures:
//! echoed datagrams per second, datagrams per CPU-second the proxy spent
//! (its capacity when the generator, not the proxy, is the bottleneck),
//! and round-trip latency p50/p99 added to the direct path.
//! Needs nginx and libnginx-mod-stream. Run: `cargo bench --bench lb_udp`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::free_port;

const DATAGRAM: usize = 172; // a 20 ms G.711 RTP packet
const THROUGHPUT: Load = Load {
    flows: 64,
    window: 8,
    seconds: 4,
};
const LATENCY: Load = Load {
    flows: 4,
    window: 1,
    seconds: 2,
};
const ROUNDS: usize = 3;

struct Load {
    flows: usize,
    window: usize,
    seconds: u64,
}

/// What one run saw.
struct Run {
    pps: f64,
    rtt_ns: Vec<u64>,
}

impl Run {
    fn percentile(&mut self, p: f64) -> f64 {
        self.rtt_ns.sort_unstable();
        let i = ((self.rtt_ns.len() as f64 - 1.0) * p).round() as usize;
        self.rtt_ns.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// Echoes every datagram back to its sender until stopped.
fn echo(stop: Arc<AtomicBool>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    addr
}

/// Keeps `window` datagrams in flight on each of `flows` sockets towards
/// `targets` (flow i → targets[i % len]) for the load's duration.
fn drive(targets: &[SocketAddr], load: &Load) -> Run {
    let socks: Vec<UdpSocket> = (0..load.flows)
        .map(|i| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(targets[i % targets.len()]).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut outstanding = vec![0usize; load.flows];
    let origin = Instant::now();
    let send = |s: &UdpSocket| {
        let mut msg = [0u8; DATAGRAM];
        msg[..8].copy_from_slice(&(origin.elapsed().as_nanos() as u64).to_le_bytes());
        s.send(&msg).is_ok()
    };
    let prime = |outstanding: &mut [usize]| {
        for (s, o) in socks.iter().zip(outstanding.iter_mut()) {
            while *o < load.window && send(s) {
                *o += 1;
            }
        }
    };
    prime(&mut outstanding);
    // Warm-up (flows set up in the proxy), then the measured span.
    let warm = origin + Duration::from_millis(300);
    let end = warm + Duration::from_secs(load.seconds);
    let mut received = 0u64;
    let mut rtt_ns = Vec::with_capacity(1 << 22);
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        // SAFETY: fds is a valid array of pollfd for the call's duration.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if n == 0 {
            // Lost datagrams (full buffers) left windows short: refill.
            outstanding.iter_mut().for_each(|o| *o = 0);
            prime(&mut outstanding);
            continue;
        }
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            loop {
                match socks[i].recv(&mut buf) {
                    Ok(len) if len >= 8 => {
                        let sent = u64::from_le_bytes(buf[..8].try_into().unwrap());
                        let now_ns = origin.elapsed().as_nanos() as u64;
                        if Instant::now() >= warm {
                            received += 1;
                            if rtt_ns.len() < rtt_ns.capacity() {
                                rtt_ns.push(now_ns.saturating_sub(sent));
                            }
                        }
                        outstanding[i] = outstanding[i].saturating_sub(1);
                        if send(&socks[i]) {
                            outstanding[i] += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
    }
    Run {
        pps: received as f64 / load.seconds as f64,
        rtt_ns,
    }
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A proxy under test: its listening address and the process doing the work.
struct Proxy {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    worker: u32,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master then stops its workers too.
        // SAFETY: kill(2) on our own child's PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Whether there are two CPUs to split between the proxy and the rest
/// (asked before the bench pins itself, which would hide the second).
fn two_cpus() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2)
}

fn on_cpu0(program: &str) -> Command {
    if two_cpus() {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", program]);
        c
    } else {
        Command::new(program)
    }
}

fn wait_udp(addr: SocketAddr) {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    probe.connect(addr).unwrap();
    for _ in 0..100 {
        let _ = probe.send(&[0u8; 16]);
        match probe.recv(&mut [0u8; 64]) {
            Ok(_) => return,
            // Port unreachable (not listening yet) comes back at once:
            // wait out one read timeout before asking again.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                let _ = probe.recv(&mut [0u8; 64]);
            }
            Err(_) => {}
        }
    }
    panic!("nothing echoes through {addr}");
}

fn mra_lb(backends: &[SocketAddr]) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let list: Vec<String> = backends.iter().map(|b| format!("\"{b}\"")).collect();
    let config = dir.path().join("lb.toml");
    std::fs::write(
        &config,
        format!(
            "[lb]\nadmin = \"127.0.0.1:{}\"\nworkers = 1\n[[lb.listener]]\nname = \"echo\"\nprotocol = \"udp\"\n\
             bind = \"127.0.0.1:{port}\"\nscheduler = \"maglev\"\nbackends = [{}]\nnew_flows_per_sec = 0\n",
            free_port(),
            list.join(", ")
        ),
    )
    .unwrap();
    let child = on_cpu0(env!("CARGO_BIN_EXE_mra"))
        .args(["lb", "--config"])
        .arg(&config)
        .env("MRA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("mra lb");
    let addr = ([127, 0, 0, 1], port).into();
    wait_udp(addr);
    Proxy {
        name: "mra lb",
        worker: child.id(),
        child,
        addr,
        _dir: dir,
    }
}

fn nginx(backends: &[SocketAddr]) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let servers: String = backends.iter().map(|b| format!("server {b}; ")).collect();
    let prefix = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
             user root; worker_processes 1; pid {prefix}/nginx.pid; error_log stderr warn;\n\
             events {{ worker_connections 4096; }}\n\
             stream {{ upstream echo {{ hash $remote_addr$remote_port consistent; {servers} }}\n\
               server {{ listen 127.0.0.1:{port} udp reuseport; proxy_pass echo; proxy_timeout 60s; }} }}\n"
        ),
    )
    .unwrap();
    let child = on_cpu0("nginx")
        .args([
            "-p",
            &prefix,
            "-c",
            "nginx.conf",
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx (packages nginx and libnginx-mod-stream)");
    let addr = ([127, 0, 0, 1], port).into();
    wait_udp(addr);
    let children =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap_or_default();
    // The worker is the master's child (taskset execs in place).
    let worker = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("an nginx worker");
    Proxy {
        name: "nginx",
        worker,
        child,
        addr,
        _dir: dir,
    }
}

fn main() {
    if two_cpus() {
        // The generator and the echo backends on CPU 1.
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let backends = [echo(stop.clone()), echo(stop.clone())];
    let proxies = [mra_lb(&backends), nginx(&backends)];
    println!(
        "UDP echo through a proxy, {DATAGRAM}-byte datagrams; proxies: 1 worker on CPU 0; generator and 2 echo backends on CPU 1"
    );

    let load = &THROUGHPUT;
    println!(
        "\nthroughput: {} flows × {} in flight, {} s, best of {ROUNDS}",
        load.flows, load.window, load.seconds
    );
    let direct = (0..ROUNDS)
        .map(|_| drive(&backends, load).pps)
        .fold(0.0, f64::max);
    println!("  direct          {direct:>9.0} datagrams/s");
    let mut results = Vec::new();
    for p in &proxies {
        let (mut best, mut per_cpu) = (0.0f64, 0.0f64);
        for _ in 0..ROUNDS {
            let cpu = cpu_seconds(p.worker);
            let run = drive(&[p.addr], load);
            let spent = cpu_seconds(p.worker) - cpu;
            best = best.max(run.pps);
            per_cpu = per_cpu.max(run.pps * load.seconds as f64 / spent.max(0.01));
        }
        println!(
            "  {:<14}  {best:>9.0} datagrams/s   {per_cpu:>9.0} datagrams per CPU-second of the proxy",
            p.name
        );
        results.push((best, per_cpu));
    }
    println!(
        "  mra lb / nginx: {:.2}× the rate, {:.2}× the datagrams per CPU-second",
        results[0].0 / results[1].0,
        results[0].1 / results[1].1
    );

    let load = &LATENCY;
    println!(
        "\nlatency: {} flows × {} in flight, {} s (round trip, µs)",
        load.flows, load.window, load.seconds
    );
    let mut direct = drive(&backends, load);
    let (d50, d99) = (direct.percentile(0.5), direct.percentile(0.99));
    println!("  direct          p50 {d50:>6.1}  p99 {d99:>6.1}");
    for p in &proxies {
        let mut run = drive(&[p.addr], load);
        let (p50, p99) = (run.percentile(0.5), run.percentile(0.99));
        println!(
            "  {:<14}  p50 {p50:>6.1}  p99 {p99:>6.1}   added p50 {:>6.1}  p99 {:>6.1}",
            p.name,
            p50 - d50,
            p99 - d99
        );
    }
    stop.store(true, Ordering::Relaxed);
}
