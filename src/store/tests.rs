//! The store against both backends: SQLite in a temp directory, and a
//! throw-away PostgreSQL server on loopback.

#[path = "../../tests/common/postgres.rs"]
mod postgres;

use super::*;
use media_api::layout::{Layout, MeetingLayout};
use meeting::NewMeeting;
use registrar::Binding;

async fn meetings_survive_reopen(dir: &Path, url: Option<&str>) {
    let m = NewMeeting {
        number: "123456789".into(),
        password: Some("4321".into()),
        layout: MeetingLayout {
            layout: Some(Layout::TwoPlus21),
            polling_seconds: Some(30),
        },
        encryption: Some(media_api::Encryption::Required),
        ..Default::default()
    }
    .validate()
    .unwrap();
    {
        let store = Store::open(dir, url).await.unwrap();
        store.create_meeting(&m).await.unwrap();
        assert!(matches!(
            store.create_meeting(&m).await,
            Err(CreateError::Exists(_))
        ));
    }
    let store = Store::open(dir, url).await.unwrap();
    assert_eq!(store.meeting("123456789").await.unwrap(), Some(m));
    assert!(store.set_locked("123456789", true).await.unwrap());
    assert!(store.meeting("123456789").await.unwrap().unwrap().locked);
    let layout = MeetingLayout {
        layout: Some(Layout::Grid(4)),
        polling_seconds: None,
    };
    assert!(store.set_meeting_layout("123456789", layout).await.unwrap());
    assert!(!store.set_meeting_layout("5", layout).await.unwrap());
    let store = Store::open(dir, url).await.unwrap();
    let kept = store.meeting("123456789").await.unwrap().unwrap();
    assert_eq!(kept.layout, layout, "the layout kept across a reopen");
    assert!(
        kept.requires_encryption(),
        "the policy kept across a reopen"
    );
    assert!(store
        .set_meeting_encryption("123456789", None)
        .await
        .unwrap());
    let loosened = store.meeting("123456789").await.unwrap().unwrap();
    assert!(!loosened.requires_encryption());
    assert!(store.delete_meeting("123456789").await.unwrap());
    assert!(store.meetings().await.unwrap().is_empty());
}

fn binding(contact: &str, instance: Option<&str>) -> Binding {
    Binding {
        user: "1001".into(),
        contact: contact.into(),
        expires_at: 2_000_000_000,
        q: 0.7,
        call_id: "c1@x".into(),
        cseq: 7,
        instance: instance.map(str::to_owned),
        reg_id: instance.map(|_| 1),
        path: vec!["<sip:p1;lr>".into(), "<sip:p2;lr>".into()],
        source: "192.0.2.9:5062".into(),
        transport: "tcp".into(),
        user_agent: Some("baresip".into()),
        updated_at: 1_900_000_000,
        reachable: instance.map(|_| false),
        last_reply: 1_900_000_000,
    }
}

async fn rooms_and_bindings_survive_reopen(dir: &Path, url: Option<&str>) {
    let account = NewRoom {
        user: "1001".into(),
        password: "s3cret".into(),
        name: Some("Board room".into()),
        transports: None,
        max_call_rate_kbps: Some(768),
        encryption: None,
    }
    .account("mra")
    .unwrap();
    assert_eq!(account.transports, ["udp", "tcp", "tls"]);
    assert_ne!(account.ha1_md5, "s3cret");
    let bindings = vec![
        binding("sip:1001@192.0.2.9:5062", None),
        binding("sip:1001@192.0.2.9:5070", Some("<urn:uuid:1>")),
    ];
    {
        let store = Store::open(dir, url).await.unwrap();
        store.create_room(&account).await.unwrap();
        assert!(matches!(
            store.create_room(&account).await,
            Err(RoomError::Exists(_))
        ));
        store.replace_bindings("1001", &bindings).await.unwrap();
    }
    let store = Store::open(dir, url).await.unwrap();
    assert_eq!(store.room("1001").await.unwrap(), Some(account.clone()));
    assert_eq!(store.bindings(Some("1001")).await.unwrap(), bindings);
    assert!(store
        .set_room_password("1001", "n3w-pass", "mra")
        .await
        .unwrap());
    let changed = store.room("1001").await.unwrap().unwrap();
    assert_ne!(changed.ha1_md5, account.ha1_md5);
    assert_eq!(
        changed.h235_key,
        signaling::h323::h235::secret("n3w-pass"),
        "the H.235 key follows the password"
    );
    assert_eq!(
        store.room_policies().await.unwrap(),
        signaling::core::RoomPolicies::from([(
            "1001".to_owned(),
            signaling::core::RoomPolicy {
                max_call_rate_kbps: Some(768),
                encryption: None
            }
        )])
    );
    assert!(store.set_room_call_rate("1001", None).await.unwrap());
    assert!(store.room_policies().await.unwrap().is_empty());
    let required = Some(media_api::Encryption::Required);
    assert!(store.set_room_encryption("1001", required).await.unwrap());
    assert_eq!(
        store.room("1001").await.unwrap().unwrap().encryption,
        required
    );
    assert_eq!(
        store.room_policies().await.unwrap()["1001"].encryption,
        required
    );
    assert!(store.set_room_encryption("1001", None).await.unwrap());
    assert!(store.delete_room("1001").await.unwrap());
    assert!(store.bindings(None).await.unwrap().is_empty());
    assert!(store.rooms().await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_keeps_meetings_rooms_and_bindings() {
    let dir = tempfile::tempdir().unwrap();
    meetings_survive_reopen(dir.path(), None).await;
    rooms_and_bindings_survive_reopen(dir.path(), None).await;
}

#[tokio::test]
async fn postgresql_keeps_meetings_rooms_and_bindings() {
    let pg = postgres::Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    meetings_survive_reopen(dir.path(), Some(&pg.url)).await;
    rooms_and_bindings_survive_reopen(dir.path(), Some(&pg.url)).await;
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact("postgres://mra:secret@db:5432/mra"),
        "postgres://mra:***@db:5432/mra"
    );
    assert_eq!(redact("sqlite:///x/mra.db"), "sqlite:///x/mra.db");
}

#[test]
fn invalid_rooms_are_refused() {
    let room = |user: &str, password: &str, transports: Option<Vec<String>>| NewRoom {
        user: user.into(),
        password: password.into(),
        name: None,
        transports,
        max_call_rate_kbps: None,
        encryption: None,
    };
    assert!(room("", "s3cret", None).account("mra").is_err());
    assert!(room("a b", "s3cret", None).account("mra").is_err());
    assert!(room("1001", "abc", None).account("mra").is_err());
    assert!(room("1001", "s3cret", Some(vec![])).account("mra").is_err());
    assert!(room("1001", "s3cret", Some(vec!["sctp".into()]))
        .account("mra")
        .is_err());
    let a = room("1001", "s3cret", Some(vec!["TCP".into()]))
        .account("mra")
        .unwrap();
    assert_eq!(
        (a.transports, a.display_name),
        (vec!["tcp".to_owned()], "1001".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_seats_hold_a_meetings_capacity_across_nodes() {
    use meeting::{Refusal, SeatRequest, Seats};
    let pg = postgres::Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Some(&pg.url)).await.unwrap();
    assert!(store.is_shared());
    let weekly = NewMeeting {
        number: "123456789".into(),
        password: Some("4321".into()),
        name: Some("Weekly".into()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    store.create_meeting(&weekly).await.unwrap();
    let a = SharedSeats::start(store.clone(), "a".into(), 3)
        .await
        .unwrap();
    let b = SharedSeats::start(store.clone(), "b".into(), 3)
        .await
        .unwrap();
    let request = |password: &str| SeatRequest {
        number: "123456789".into(),
        password: Some(password.into()),
        holder: "room".into(),
    };
    assert_eq!(
        a.take(request("1")).await.unwrap(),
        Err(Refusal::WrongPassword)
    );
    // Eight rooms arrive at once on two nodes: three get in.
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let node = if i % 2 == 0 { a.clone() } else { b.clone() };
            let request = request("4321");
            tokio::spawn(async move { node.take(request).await.unwrap() })
        })
        .collect();
    let mut taken = Vec::new();
    for attempt in attempts {
        taken.push(attempt.await.unwrap());
    }
    let seats: Vec<_> = taken.iter().filter_map(|t| t.as_ref().ok()).collect();
    assert_eq!(seats.len(), 3, "{taken:?}");
    assert!(taken
        .iter()
        .all(|t| t.as_ref().is_ok_and(|s| s.meeting.name == "Weekly") || t == &Err(Refusal::Full)));
    // A seat given back is free for the other node.
    a.release(seats[0].id).await;
    let again = b.take(request("4321")).await.unwrap().expect("a free seat");
    assert_eq!(b.take(request("4321")).await.unwrap(), Err(Refusal::Full));
    // Seats nobody renews (their node died) stop counting...
    sqlx::query("UPDATE seats SET renewed = 0 WHERE id = $1")
        .bind(again.id)
        .execute(&store.pool)
        .await
        .unwrap();
    a.take(request("4321"))
        .await
        .unwrap()
        .expect("an expired seat is free");
    // ...and a node that restarts starts with none of its own (whether b
    // can then take one depends on how many of the first three it won).
    drop(b);
    let _b = SharedSeats::start(store.clone(), "b".into(), 3)
        .await
        .unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM seats WHERE node = 'b'")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "b's old seats are gone");
}
