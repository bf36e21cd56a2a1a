//! The H.323 gatekeeper of a real `mra run`, driven over UDP: the GRQ an
//! independent stack recorded (../shared/vectors/h323/captures) is
//! confirmed; a room allowed H.323 registers by alias, refreshes, is
//! admitted within its call rate (ARQ, BRQ), finds a meeting by LRQ, survives a restart and unregisters,
//! all visible in /api/v1/rooms; wrong aliases and undecodable datagrams
//! get their reject. A room's requests must be signed with H.235.1 under
//! its password (the test's HMAC computed by openssl): unsigned, wrongly
//! signed, replayed and out-of-time ones get securityDenial, and our
//! answers carry a signature openssl verifies. Every datagram both ways
//! is then judged by tshark.
//! With discovery enabled, a GRQ sent to the RAS multicast group is
//! answered too.

mod common;

use h323_asn1::h225::{
    AdmissionRejectReason, BandRejectReason, RasMessage, RegistrationRejectReason,
    UnregRejectReason,
};
use h323_asn1::h235::AuthenticationMechanism;
use serde_json::Value;
use signaling::h323::address::{socket_addr, text};

use common::h323::{endpoint_id, RasClient};
use common::{isolate_network, pcap, Mra};

fn room(mra: &Mra) -> Value {
    let (code, body) = mra.http("GET", "/api/v1/rooms/1001", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// tshark must decode every datagram as RAS, none malformed.
fn judged_by_tshark(client: &RasClient, dir: &std::path::Path) {
    // Shown on the well-known RAS port so tshark picks the dissector.
    let wire: Vec<_> = client
        .wire
        .iter()
        .map(|(from, to, p)| {
            let port = |a: &std::net::SocketAddr| {
                if *a == client.gatekeeper {
                    std::net::SocketAddr::new(a.ip(), 1719)
                } else {
                    *a
                }
            };
            (port(from), port(to), p.clone())
        })
        .collect();
    let path = dir.join("ras.pcap");
    pcap::write(&path, pcap::Transport::Udp, &wire);
    assert_eq!(pcap::tshark_complaints(&path, &[]), "");
    let summary = pcap::tshark_read(&path, &[], &[]);
    assert_eq!(
        summary.lines().filter(|l| l.contains("RAS")).count(),
        wire.len(),
        "every datagram decoded as RAS:\n{summary}"
    );
    // What another stack reads: the lifetime granted, the identifier.
    let fields = pcap::tshark_read(&path, &[], &["h225.timeToLive", "h225.endpointIdentifier"]);
    let granted: Vec<&str> = fields.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(granted.len() >= 4, "{fields}");
    for line in granted {
        let (ttl, id) = line.split_once('\t').unwrap();
        assert!(ttl.is_empty() || ttl == "120", "{fields}");
        assert!(id.is_empty() || id.starts_with("1001/"), "{fields}");
    }
}

#[test]
fn a_room_registers_is_admitted_and_unregisters_through_the_gatekeeper() {
    isolate_network();
    let mut mra = Mra::start();
    let (code, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1001","password":"s3cret","name":"Board room","transports":["h323"]}"#),
    );
    assert_eq!(code, 201, "{body}");
    let mut ep = RasClient::new(mra.ras).signing("s3cret");

    // Discovery with the GRQ an independent stack sent.
    let grq = pcap::segments(
        &common::manifest_dir().join("../shared/vectors/h323/captures/ras-grq.pcap"),
    );
    match ep.ask_raw(&grq[0].payload) {
        RasMessage::gatekeeperConfirm(gcf) => {
            assert_eq!(gcf.request_seq_num.0, 1);
            assert_eq!(text(&gcf.gatekeeper_identifier.unwrap().0), "MRA");
            assert_eq!(socket_addr(&gcf.ras_address), Some(mra.ras));
        }
        other => panic!("GRQ answered {other:?}"),
    }

    // Unknown aliases are refused; the room's alias registers.
    match ep.register(&["nobody"], None) {
        RasMessage::registrationReject(rrj) => assert_eq!(
            rrj.reject_reason,
            RegistrationRejectReason::invalidAlias(())
        ),
        other => panic!("{other:?}"),
    }
    let rcf = ep.register(&["1001"], None);
    let id = endpoint_id(&rcf);
    let RasMessage::registrationConfirm(c) = &rcf else {
        unreachable!()
    };
    assert_eq!(c.time_to_live.as_ref().map(|t| t.0), Some(120));
    assert_eq!(socket_addr(&c.call_signal_address[0]), Some(mra.h225));
    let room_view = room(&mra);
    assert_eq!(room_view["status"], "online", "{room_view}");
    assert_eq!(room_view["contacts"][0]["protocol"], "h323", "{room_view}");
    assert_eq!(
        room_view["contacts"][0]["source"],
        ep.local().to_string(),
        "{room_view}"
    );

    // Lightweight refresh, admission to a meeting, location of a meeting.
    assert_eq!(endpoint_id(&ep.register(&[], Some(&id))), id);
    match ep.admission(&id, "123456789") {
        RasMessage::admissionConfirm(acf) => {
            assert_eq!(socket_addr(&acf.dest_call_signal_address), Some(mra.h225));
            assert_eq!(acf.band_width.0, 7680, "384 kbit/s each way, as asked");
        }
        other => panic!("ARQ answered {other:?}"),
    }

    // The room's own call rate caps what its calls are granted: the ACF
    // cuts the ARQ down, a BRQ above it is refused naming what is allowed.
    let (code, body) = mra.http(
        "PUT",
        "/api/v1/rooms/1001/call-rate",
        Some(r#"{"max_call_rate_kbps":256}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(room(&mra)["max_call_rate_kbps"], 256);
    match ep.admission(&id, "123456789") {
        RasMessage::admissionConfirm(acf) => assert_eq!(acf.band_width.0, 5120),
        other => panic!("ARQ answered {other:?}"),
    }
    match ep.bandwidth(&id, 7680) {
        RasMessage::bandwidthReject(brj) => {
            assert_eq!(
                brj.reject_reason,
                BandRejectReason::insufficientResources(())
            );
            assert_eq!(brj.allowed_band_width.0, 5120);
        }
        other => panic!("BRQ answered {other:?}"),
    }
    match ep.bandwidth(&id, 2560) {
        RasMessage::bandwidthConfirm(bcf) => assert_eq!(bcf.band_width.0, 2560),
        other => panic!("BRQ answered {other:?}"),
    }
    assert!(matches!(
        ep.admission("1001/00000000", "123456789"),
        RasMessage::admissionReject(_)
    ));
    match ep.locate("123456789") {
        RasMessage::locationConfirm(lcf) => {
            assert_eq!(socket_addr(&lcf.call_signal_address), Some(mra.h225))
        }
        other => panic!("LRQ answered {other:?}"),
    }

    // The registration is stored: a restart keeps it.
    mra.restart();
    assert_eq!(room(&mra)["status"], "online");
    assert_eq!(endpoint_id(&ep.register(&[], Some(&id))), id);

    // Garbage gets an unknownMessageResponse and is counted.
    assert!(matches!(
        ep.ask_raw(b"\xff\xff\xff not RAS"),
        RasMessage::unknownMessageResponse(_)
    ));
    assert_eq!(mra.metric("mra_h323_ras_malformed_total"), 1);

    assert!(matches!(
        ep.unregister(&id),
        RasMessage::unregistrationConfirm(_)
    ));
    assert_eq!(room(&mra)["status"], "unregistered");
    assert!(matches!(
        ep.register(&[], Some(&id)),
        RasMessage::registrationReject(_)
    ));
    // The garbage datagram is ours, not the gatekeeper's: judge the rest.
    ep.wire
        .retain(|(_, _, p)| !p.starts_with(b"\xff\xff\xff not RAS"));
    judged_by_tshark(&ep, mra.dir.path());
}

#[test]
fn a_room_signs_its_ras_with_its_password_and_our_answers_are_signed() {
    isolate_network();
    let mra = Mra::start();
    let (code, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1001","password":"s3cret","transports":["h323"]}"#),
    );
    assert_eq!(code, 201, "{body}");
    let mut ep = RasClient::new(mra.ras);

    // Discovery agrees to H.235.1 when the endpoint offers it.
    match ep.discover(true) {
        RasMessage::gatekeeperConfirm(gcf) => {
            assert_eq!(
                gcf.authentication_mode,
                Some(AuthenticationMechanism::pwdHash(()))
            );
            assert_eq!(
                gcf.algorithm_oid.map(|o| o.to_vec()),
                Some(vec![0, 0, 8, 235, 0, 2, 6])
            );
        }
        other => panic!("GRQ answered {other:?}"),
    }
    assert!(matches!(
        ep.discover(false),
        RasMessage::gatekeeperConfirm(gcf) if gcf.authentication_mode.is_none()
    ));

    // Unsigned and wrongly signed registrations are refused.
    let rrj = |m: RasMessage| match m {
        RasMessage::registrationReject(r) => r.reject_reason,
        other => panic!("{other:?}"),
    };
    let denied = RegistrationRejectReason::securityDenial(());
    assert_eq!(rrj(ep.register(&["1001"], None)), denied);
    ep.password = Some("wrong".into());
    assert_eq!(rrj(ep.register(&["1001"], None)), denied);

    // Signed with the password, the room registers; the RCF is signed for
    // the identifier it grants.
    ep.password = Some("s3cret".into());
    let id = endpoint_id(&ep.register(&["1001"], None));
    let ours = |id: &str| Some((true, Some(id.to_owned()), Some("MRA".to_owned())));
    assert_eq!(ep.answer_signed("s3cret"), ours(&id));
    assert_eq!(ep.answer_signed("wrong").map(|s| s.0), Some(false));

    // The same token on another request is a replay.
    ep.next_stamp = Some(ep.last_stamp);
    match ep.unregister(&id) {
        RasMessage::unregistrationReject(r) => {
            assert_eq!(r.reject_reason, UnregRejectReason::securityDenial(()))
        }
        other => panic!("{other:?}"),
    }

    // Admission: unsigned or out of time refused, signed admitted.
    let arj = |m: RasMessage| match m {
        RasMessage::admissionReject(r) => r.reject_reason,
        other => panic!("{other:?}"),
    };
    ep.password = None;
    assert_eq!(
        arj(ep.admission(&id, "123456789")),
        AdmissionRejectReason::securityDenial(())
    );
    ep.password = Some("s3cret".into());
    ep.next_stamp = Some((ep.last_stamp.0 - 3600, 99));
    assert_eq!(
        arj(ep.admission(&id, "123456789")),
        AdmissionRejectReason::securityDenial(())
    );
    assert!(matches!(
        ep.admission(&id, "123456789"),
        RasMessage::admissionConfirm(_)
    ));
    assert_eq!(ep.answer_signed("s3cret"), ours(&id));
    assert!(matches!(
        ep.unregister(&id),
        RasMessage::unregistrationConfirm(_)
    ));
    assert_eq!(ep.answer_signed("s3cret"), ours(&id));
    assert_eq!(mra.metric("mra_h323_ras_security_denials_total"), 5);

    // tshark reads the profile's tokens in our answers.
    judged_by_tshark(&ep, mra.dir.path());
    let fields = pcap::tshark_read(
        &mra.dir.path().join("ras.pcap"),
        &[],
        &["udp.srcport", "h235.tokenOID", "h235.algorithmOID"],
    );
    let signed: Vec<&str> = fields
        .lines()
        .filter(|l| l.starts_with("1719\t") && l.contains("0.0.8.235"))
        .collect();
    assert_eq!(signed.len(), 3, "RCF, ACF and UCF signed:\n{fields}");
    for line in signed {
        assert_eq!(
            line, "1719\t0.0.8.235.0.2.1,0.0.8.235.0.2.5\t0.0.8.235.0.2.6",
            "{fields}"
        );
    }
}

#[test]
fn discovery_sent_to_the_multicast_group_is_answered_when_enabled() {
    isolate_network();
    // This namespace's loopback carries the group (its default route is lo).
    let ok = common::tools::command("ip")
        .args(["link", "set", "lo", "multicast", "on"])
        .status()
        .expect("ip (package iproute2)");
    assert!(ok.success());
    let port = common::free_port().to_string();
    let mra = Mra::start_with(&[
        ("MRA_H323_MULTICAST_DISCOVERY", "true"),
        ("MRA_H323_DISCOVERY_PORT", &port),
    ]);
    let group = format!("224.0.1.41:{port}").parse().unwrap();
    let mut ep = RasClient::new(group);
    let grq = pcap::segments(
        &common::manifest_dir().join("../shared/vectors/h323/captures/ras-grq.pcap"),
    );
    match ep.ask_raw(&grq[0].payload) {
        RasMessage::gatekeeperConfirm(gcf) => {
            assert_eq!(
                socket_addr(&gcf.ras_address),
                Some(mra.ras),
                "our unicast RAS address"
            );
        }
        other => panic!("multicast GRQ answered {other:?}"),
    }
}
