//! Every message in `../shared/vectors/h323/messages` (recorded from
//! independent H.323 stacks) decodes, and re-encoding gives a value that
//! decodes to the same thing. (The bytes may differ: an encoder writes the
//! extension-addition bitmap of its own version of a type, and ours knows
//! H.225.0 v7 / H.245 v15, newer than the recording stacks.)

use std::path::{Path, PathBuf};

use h323_asn1::{h225, h245};
use rasn::{aper, Decode, Encode};

fn vectors(prefix: &str) -> Vec<PathBuf> {
    // Read at run time: a binary built in another checkout (shared
    // CARGO_TARGET_DIR) must still read this one's vectors.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo");
    let dir = Path::new(&manifest).join("../../shared/vectors/h323/messages");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no {prefix}* vectors in {}",
        dir.display()
    );
    files
}

fn round_trip<T: Decode + Encode + PartialEq + std::fmt::Debug>(prefix: &str) {
    for path in vectors(prefix) {
        let bytes = std::fs::read(&path).unwrap();
        let value: T = aper::decode(&bytes)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        let again = aper::encode(&value).unwrap();
        let value2: T = aper::decode(&again).unwrap();
        assert_eq!(value, value2, "{}", path.display());
        assert_eq!(aper::encode(&value2).unwrap(), again, "{}", path.display());
    }
}

#[test]
fn h225_call_signalling_messages_round_trip() {
    round_trip::<h225::H323UserInformation>("h.225_cs.");
}

#[test]
fn h245_messages_round_trip() {
    round_trip::<h245::MultimediaSystemControlMessage>("h.245_");
}
