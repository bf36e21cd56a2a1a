//! RFC 4475 torture messages (../shared/vectors/sip-torture) sent to a real
//! `mra run` over UDP: each gets the verdict the RFC prescribes, the process
//! stays up, and a normal call succeeds afterwards.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{sipp, Mra};

/// Expected verdict per file: a status code, "accept" (any non-400 answer), or "drop" (no answer).
fn expected(name: &str) -> &'static str {
    match name {
        // RFC 4475 3.1.2: invalid messages are rejected with 400.
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri"
        | "mismatch01" | "mismatch02" | "multi01" | "mcl01" | "insuf" | "badRequestUri" => "400",
        // 3.1.2.16: unknown protocol version.
        "badvers" => "505",
        // 3.3.2 / 3.3.3: unknown Request-URI schemes.
        "unkscm" | "novelsc" => "416",
        // 3.3.6: unknown Require option tags.
        "bext01" => "420",
        // 3.3.7 and 3.1.1.11: bodies we cannot interpret.
        "invut" => "415",
        // mpart01 is a MESSAGE, which a room gateway does not serve.
        "mpart01" => "405",
        // 3.3.15: Accept rules out SDP.
        "sdp01" => "406",
        // 3.1.2.5 / 3.1.2.19 and 3.1.1.12/13, and bcast: responses matching no transaction
        // are absorbed silently.
        "scalarlg" | "bigcode" | "unreason" | "noreason" | "bcast" => "drop",
        // Not in RFC 4475 (cipango's own extra): no verdict is prescribed.
        "test" => "any",
        // 3.1.2.14 / 3.1.2.15: spaces inside addr-spec, unquoted non-token display
        // names: "reasonable to reject with 400".
        "badaspec" | "baddn" => "400",
        // cipango's wsinv variant without To, From, Call-ID and CSeq.
        "wsinv3" => "400",
        // 3.1.1 valid messages, 3.2.1, 3.4.1 and the liberal-may-accept cases of 3.1.2.
        _ => "accept",
    }
}

#[test]
fn rfc4475_torture_messages_get_their_verdicts() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let root = common::manifest_dir().join("../shared/vectors/sip-torture");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut failures = Vec::new();
    let mut files: Vec<_> = ["valid", "invalid", "failed"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(root.join(d))
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 48,
        "vectors missing under {}",
        root.display()
    );
    // Several files reuse a branch: a request whose branch, sent-by and method match
    // an earlier one is a retransmission (RFC 3261 17.2.3) and gets that one's response
    // while its transaction lives (stateless rejections leave none).
    let mut transactions = std::collections::HashMap::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        sock.send_to(&bytes, mra.sip).unwrap();
        let own = call_id_of(&bytes);
        let first = transactions
            .entry(transaction_key(&bytes))
            .or_insert_with(|| own.clone())
            .clone();
        let got = first_final_status(
            &sock,
            [own.as_str(), first.as_str()],
            if expected(&name) == "drop" { 300 } else { 2000 },
        );
        let want = expected(&name);
        let ok = match (want, got) {
            ("drop", None) | ("any", _) => true,
            ("accept", Some(code)) => code != 400 && code != 500,
            (code, Some(got)) => code == got.to_string(),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: expected {want}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "verdicts:\n{}\nmra log:\n{}",
        failures.join("\n"),
        mra.log()
    );
    assert!(mra.metric("mra_sip_malformed_rejected_total") >= 10);
    let (ok, out) = sipp("uac_join.xml", "123456789", mra.sip, &["-m", "1"]);
    assert!(ok, "a normal call after the torture run failed: {out}");
}

/// The first value of a header in a raw message (full or compact name).
fn header_of(raw: &[u8], full: &str, compact: &str) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case(full) || name.eq_ignore_ascii_case(compact))
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

fn call_id_of(raw: &[u8]) -> String {
    header_of(raw, "Call-ID", "i")
}

/// Top Via (branch and sent-by, as written) and CSeq method: what a server
/// transaction is matched by. Unique per file for responses and odd messages.
fn transaction_key(raw: &[u8]) -> String {
    let via = header_of(raw, "Via", "v");
    let cseq = header_of(raw, "CSeq", "CSeq");
    if !via.contains("z9hG4bK") || raw.starts_with(b"SIP/") {
        return call_id_of(raw);
    }
    format!(
        "{via} {}",
        cseq.split_whitespace().last().unwrap_or_default()
    )
}

/// The first final (>= 200) response status for either Call-ID, skipping provisional ones and other calls.
fn first_final_status(sock: &UdpSocket, call_ids: [&str; 2], wait_ms: u64) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        if !call_ids[0].is_empty() && !call_ids.contains(&call_id_of(&buf[..n]).as_str()) {
            continue;
        }
        if let Some(code) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
        {
            if code >= 200 {
                return Some(code);
            }
        }
    }
}
