//! CANCEL before answer, over UDP and TCP. The meeting directory is held
//! (a PostgreSQL transaction locks the meetings table) until the room has
//! its 487, so the CANCEL always finds the call still looking its meeting
//! up, whatever the scheduling: the race is decided, not hoped for.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::postgres::Postgres;
use common::Mra;
use sqlx::{Connection, PgConnection};

/// `mra run` on a throw-away PostgreSQL with meeting 123456789, whose
/// lookups wait while the meetings table is held.
struct HeldDirectory {
    mra: Mra,
    runtime: tokio::runtime::Runtime,
    holder: Option<PgConnection>,
    _pg: Postgres,
}

impl HeldDirectory {
    fn start() -> HeldDirectory {
        let pg = Postgres::start();
        let mra = Mra::start_with(&[("MRA_DATABASE_URL", &pg.url)]);
        let (status, body) = mra.http(
            "POST",
            "/api/v1/meetings",
            Some(r#"{"number": "123456789", "name": "Held"}"#),
        );
        assert_eq!(status, 201, "{body}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let holder = runtime.block_on(async {
            let mut conn = PgConnection::connect(&pg.url).await.unwrap();
            for sql in ["BEGIN", "LOCK TABLE meetings IN ACCESS EXCLUSIVE MODE"] {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            conn
        });
        HeldDirectory {
            mra,
            runtime,
            holder: Some(holder),
            _pg: pg,
        }
    }

    /// Lets the held lookups finish.
    fn release(&mut self) {
        if let Some(mut conn) = self.holder.take() {
            self.runtime.block_on(async {
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            });
        }
    }
}

fn request(
    method: &str,
    transport: &str,
    local: SocketAddr,
    to: SocketAddr,
    to_tag: &str,
) -> String {
    let body = if method == "INVITE" {
        "v=0\r\no=room 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"
    } else {
        ""
    };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:123456789@{to} SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bKcancel1;rport\r\n\
         From: <sip:room@{local}>;tag=room\r\nTo: <sip:123456789@{to}>{to_tag}\r\nCall-ID: cancel-{transport}@room\r\n\
         CSeq: 1 {method}\r\nContact: <sip:room@{local}>\r\nMax-Forwards: 70\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Status line and To header of each response.
fn summarize(msg: &str) -> (String, String) {
    let status = msg.lines().next().unwrap_or_default().to_owned();
    let to = msg
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap_or_default()
        .to_owned();
    (status, to)
}

fn tag_of(to: &str) -> String {
    to.split_once(";tag=")
        .map(|(_, t)| format!(";tag={}", t.trim()))
        .unwrap_or_default()
}

#[test]
fn cancel_over_udp_gets_200_then_487() {
    let mut held = HeldDirectory::start();
    let mra = &held.mra;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    sock.send_to(
        request("INVITE", "UDP", local, mra.sip, "").as_bytes(),
        mra.sip,
    )
    .unwrap();
    sock.send_to(
        request("CANCEL", "UDP", local, mra.sip, "").as_bytes(),
        mra.sip,
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen
        .iter()
        .any(|(s, _): &(String, String)| s.contains("487"))
    {
        let (n, _) = sock.recv_from(&mut buf).expect("responses arrive");
        seen.push(summarize(&String::from_utf8_lossy(&buf[..n])));
    }
    let statuses: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 200 OK",
            "SIP/2.0 487 Request Terminated"
        ],
        "mra log:\n{}",
        mra.log()
    );
    held.release();
    let mra = &held.mra;
    let tag = tag_of(&seen[2].1);
    sock.send_to(
        request("ACK", "UDP", local, mra.sip, &tag).as_bytes(),
        mra.sip,
    )
    .unwrap();
    mra.wait_calls("the cancelled call to go", |c| c.is_empty());
    assert_eq!(mra.metric("mra_calls_cancelled_total"), 1);
    assert_eq!(mra.metric("mra_calls_admitted_total"), 0);
}

#[test]
fn cancel_over_tcp_gets_200_then_487() {
    let mut held = HeldDirectory::start();
    let mra = &held.mra;
    let mut conn = TcpStream::connect(mra.sip).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = conn.local_addr().unwrap();
    let burst = request("INVITE", "TCP", local, mra.sip, "")
        + &request("CANCEL", "TCP", local, mra.sip, "");
    conn.write_all(burst.as_bytes()).unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("487 Request Terminated") {
        let n = conn.read(&mut buf).expect("responses arrive");
        assert!(n > 0, "connection closed; got:\n{text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let statuses: Vec<&str> = text.lines().filter(|l| l.starts_with("SIP/2.0 ")).collect();
    assert_eq!(
        statuses,
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 200 OK",
            "SIP/2.0 487 Request Terminated"
        ]
    );
    held.release();
    let mra = &held.mra;
    let last = &text[text.rfind("SIP/2.0 487").unwrap()..];
    let tag = tag_of(&summarize(last).1);
    conn.write_all(request("ACK", "TCP", local, mra.sip, &tag).as_bytes())
        .unwrap();
    mra.wait_calls("the cancelled call to go", |c| c.is_empty());
    assert_eq!(mra.metric("mra_calls_cancelled_total"), 1);
}
