//! Every program the suite and `fuzz/smoke.sh` run is installed: a
//! missing one fails here, first and by its package's name, rather than
//! somewhere inside a test (or, worse, as a skip).

mod common;

use common::tools::{find, PROGRAMS};

#[test]
fn every_program_the_tests_run_is_installed() {
    let missing: Vec<String> = PROGRAMS
        .iter()
        .filter(|(program, _)| find(program).is_none())
        .map(|(program, package)| format!("{program} (Debian package {package})"))
        .collect();
    assert!(
        missing.is_empty(),
        "not installed: {}; run deploy/install-deps",
        missing.join(", ")
    );
    assert!(
        std::path::Path::new("/usr/lib/postgresql").is_dir(),
        "no PostgreSQL server (Debian package postgresql); run deploy/install-deps"
    );
    assert!(
        common::manifest_dir()
            .join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "no playwright-core: run `npm ci --prefix tests/browser` (deploy/install-deps does)"
    );
}

#[test]
fn every_package_named_for_a_program_is_in_the_install_list() {
    let list = std::fs::read_to_string(common::manifest_dir().join("deploy/apt-packages.txt"))
        .expect("deploy/apt-packages.txt");
    let listed: Vec<&str> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    for (program, package) in PROGRAMS {
        // Node.js may come from elsewhere; install-deps adds Debian's only
        // when npm is missing.
        if matches!(package, "nodejs" | "npm") {
            continue;
        }
        assert!(
            listed.contains(&package),
            "{program}: package {package} is missing from deploy/apt-packages.txt"
        );
    }
}
