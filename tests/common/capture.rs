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
        let mut child = super::tools::command("tshark")
            .args(["-i", "lo", "-F", "pcap", "-q", "-f", filter, "-w"])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tshark (package tshark)");
        // tshark says "Capturing on" once the interface is open.
        use std::io::BufRead;
        let mut said = String::new();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line.contains("Capturing on") {
                break;
            }
            said.push_str(&line);
        }
        // The rest (its count at the end) is read, so tshark never blocks
        // or dies on a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        assert!(
            child.try_wait().unwrap().is_none(),
            "tshark did not start capturing on lo (needs root or CAP_NET_RAW): {said}"
        );
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
