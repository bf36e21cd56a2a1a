-- Room accounts (digest HA1 values, never passwords) and their bindings.
CREATE TABLE rooms (
    user_name    TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    realm        TEXT NOT NULL,
    ha1_md5      TEXT NOT NULL,
    ha1_sha256   TEXT NOT NULL,
    transports   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE bindings (
    user_name  TEXT NOT NULL REFERENCES rooms (user_name) ON DELETE CASCADE,
    contact    TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    q_milli    BIGINT NOT NULL,
    call_id    TEXT NOT NULL,
    cseq       BIGINT NOT NULL,
    instance   TEXT,
    reg_id     BIGINT,
    path       TEXT NOT NULL,
    source     TEXT NOT NULL,
    transport  TEXT NOT NULL,
    user_agent TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_name, contact)
);
