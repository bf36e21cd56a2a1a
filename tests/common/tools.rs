//! The programs the tests run, each with the Debian package that has it.
//! A missing one fails the test that needs it with the package's name
//! (never a skip); `deploy/install-deps` installs them all (the list is
//! `deploy/apt-packages.txt`).

use std::path::PathBuf;
use std::process::Command;

/// Program → Debian package.
pub const PROGRAMS: [(&str, &str); 17] = [
    ("sipp", "sip-tester"),
    ("baresip", "baresip-core"),
    ("tshark", "tshark"),
    ("ip", "iproute2"),
    ("openssl", "openssl"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("stdbuf", "coreutils"),
    ("runuser", "util-linux"),
    ("taskset", "util-linux"),
    ("id", "coreutils"),
    ("kill", "procps"),
    ("chromium", "chromium"),
    ("perl", "perl"),
    ("ffmpeg", "ffmpeg"),
    ("linphonec", "linphone-cli"),
    ("sslscan", "sslscan"),
];

/// Where `program` is on PATH.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The package that has `program`.
pub fn package(program: &str) -> &'static str {
    PROGRAMS
        .iter()
        .find(|(p, _)| *p == program)
        .map(|(_, pkg)| *pkg)
        .unwrap_or_else(|| panic!("{program} is not listed in tests/common/tools.rs"))
}

/// Panics, naming the package, when `program` is not installed.
pub fn require(program: &str) {
    if find(program).is_none() {
        panic!(
            "`{program}` is not installed: install the Debian package {} (deploy/install-deps installs every tool the tests use)",
            package(program)
        );
    }
}

/// A command for `program`, which must be installed.
pub fn command(program: &str) -> Command {
    require(program);
    Command::new(program)
}
