//! The store against both backends: SQLite in a temp directory, and a
//! throw-away PostgreSQL server on loopback.

#[path = "../../tests/common/postgres.rs"]
mod postgres;

use super::*;
use meeting::NewMeeting;
use registrar::Binding;

async fn meetings_survive_reopen(dir: &Path, url: Option<&str>) {
    let m = NewMeeting {
        number: "123456789".into(),
        password: Some("4321".into()),
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
    }
    .account("mra")
    .unwrap();
    assert_eq!(account.transports, ["udp", "tcp"]);
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
    };
    assert!(room("", "s3cret", None).account("mra").is_err());
    assert!(room("a b", "s3cret", None).account("mra").is_err());
    assert!(room("1001", "abc", None).account("mra").is_err());
    assert!(room("1001", "s3cret", Some(vec![])).account("mra").is_err());
    assert!(room("1001", "s3cret", Some(vec!["tls".into()]))
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
