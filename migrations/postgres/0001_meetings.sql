CREATE TABLE meetings (
    number     TEXT PRIMARY KEY NOT NULL,
    password   TEXT,
    host_pin   TEXT,
    name       TEXT NOT NULL,
    locked     BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);
