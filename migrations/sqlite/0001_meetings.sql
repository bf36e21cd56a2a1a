CREATE TABLE meetings (
    number     TEXT PRIMARY KEY NOT NULL,
    password   TEXT,
    host_pin   TEXT,
    name       TEXT NOT NULL,
    locked     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
