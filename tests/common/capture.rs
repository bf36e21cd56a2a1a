//! Live captures on loopback by tshark, for tests that judge what crossed
//! the wire (read back with [`super::pcap`]).

/// A live capture on loopback by tshark (as root: CAP_NET_RAW), written
/// as a classic pcap for [`super::pcap::segments`]; stopped (by PID) on [`Capture::stop`].
pub struct Capture {
    child: std::process::Child,
    pub path: std::path::PathBuf,
}

impl Capture {
    /// Starts capturing what `filter` (BPF) lets through into `path`, and
    /// waits until tshark captures.
    pub fn start(path: &std::path::Path, filter: &str) -> Capture {
        super::tools::require("tshark");
        let log = path.with_extension("log");
        let child = super::tools::command("tshark")
            .args(["-i", "lo", "-F", "pcap", "-q", "-f", filter, "-w"])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("tshark (package tshark)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // tshark says "Capturing on" once the interface is open.
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Capturing on")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "tshark did not start capturing on lo (needs root or CAP_NET_RAW): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Capture {
            child,
            path: path.to_owned(),
        }
    }

    /// Stops tshark (SIGINT: it flushes) and waits for it.
    pub fn stop(mut self) -> std::path::PathBuf {
        // SAFETY: a plain kill(2) of the child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        self.path.clone()
    }
}
