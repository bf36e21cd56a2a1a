//! A SIP caller over TCP or TLS for the benchmarks (SIPp has no TLS):
//! each call on a connection of its own (over TLS a full handshake,
//! any certificate taken), INVITE with the caller's offer, the 200 OK
//! awaited and acknowledged, BYE when hung up. Blocking sockets and
//! rustls: one thread per concurrent call.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Takes whatever certificate the server shows (the node's self-signed
/// one): the benchmark measures the handshake, not a PKI.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection to the server.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Places calls to one server over TCP, or TLS.
#[derive(Clone)]
pub struct Caller {
    to: SocketAddr,
    tls: Option<Arc<ClientConfig>>,
    calls: Arc<AtomicU64>,
}

/// A call placed: its connection, and what the server answered.
pub struct Call {
    stream: Stream,
    /// The call's number, in its tags and branches.
    n: u64,
    local: SocketAddr,
    transport: &'static str,
    call_id: String,
    to: String,
    target: String,
    /// The server's answer (SDP).
    pub answer: String,
}

impl Caller {
    pub fn tcp(to: SocketAddr) -> Caller {
        Caller {
            to,
            tls: None,
            calls: Arc::default(),
        }
    }

    pub fn tls(to: SocketAddr) -> Caller {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Caller {
            to,
            tls: Some(Arc::new(config)),
            calls: Arc::default(),
        }
    }

    /// A new connection, its TLS handshake done.
    fn connect(&self) -> (Stream, SocketAddr) {
        let tcp = TcpStream::connect(self.to).expect("connect");
        tcp.set_nodelay(true).unwrap();
        let local = tcp.local_addr().unwrap();
        let Some(config) = &self.tls else {
            return (Stream::Tcp(tcp), local);
        };
        let name = ServerName::IpAddress(self.to.ip().into());
        let conn = ClientConnection::new(config.clone(), name).expect("a TLS client");
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        }
        (Stream::Tls(Box::new(tls)), local)
    }

    /// Opens a connection, handshakes and closes it.
    pub fn handshake(&self) {
        drop(self.connect());
    }

    /// Calls `service` with `offer` (SDP) and acknowledges the 200 OK.
    pub fn call(&self, service: &str, offer: &str) -> Call {
        let (mut stream, local) = self.connect();
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let transport = if self.tls.is_some() { "TLS" } else { "TCP" };
        let call_id = format!("bench-{}-{n}@127.0.0.1", local.port());
        let target = format!(
            "sip:{service}@{};transport={}",
            self.to,
            transport.to_lowercase()
        );
        let invite = format!(
            "INVITE {target} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch=z9hG4bK{n}i;alias\r\n\
             Max-Forwards: 70\r\n\
             From: \"Bench {n}\" <sip:bench{n}@127.0.0.1>;tag=b{n}\r\n\
             To: <sip:{service}@{}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:bench{n}@{local};transport={}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{offer}",
            self.to,
            transport.to_lowercase(),
            offer.len()
        );
        stream.write_all(invite.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let ok = loop {
            let response = read_message(&mut stream, &mut buf);
            let status: u16 = response[8..11].parse().expect("a response");
            if status >= 200 {
                assert_eq!(status, 200, "the call was refused: {response}");
                break response;
            }
        };
        let to = header(&ok, "To").to_owned();
        let answer = ok.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
        let mut call = Call {
            stream,
            n,
            local,
            transport,
            call_id,
            to,
            target,
            answer,
        };
        call.request("ACK", 1);
        call
    }
}

impl Call {
    fn request(&mut self, method: &str, cseq: u32) {
        let n = self.n;
        let message = format!(
            "{method} {} SIP/2.0\r\n\
             Via: SIP/2.0/{} {};branch=z9hG4bK{n}{method};alias\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:bench@127.0.0.1>;tag=b{n}\r\n\
             To: {}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            self.target, self.transport, self.local, self.to, self.call_id
        );
        self.stream.write_all(message.as_bytes()).unwrap();
    }

    /// Sends BYE and waits for its 200 OK.
    pub fn hang_up(mut self) {
        self.request("BYE", 2);
        let mut buf = Vec::new();
        loop {
            let message = read_message(&mut self.stream, &mut buf);
            if message.starts_with("SIP/2.0 ") && header(&message, "CSeq").ends_with("BYE") {
                assert!(message.starts_with("SIP/2.0 200"), "{message}");
                return;
            }
        }
    }
}

/// The value of the first `name:` header of `message`.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or("")
}

/// The next SIP message on `stream` (`buf` keeps what was read past it).
fn read_message(stream: &mut Stream, buf: &mut Vec<u8>) -> String {
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = header(&head, "Content-Length").parse().unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let message: Vec<u8> = buf.drain(..end + 4 + length).collect();
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).expect("the server's reply");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}
