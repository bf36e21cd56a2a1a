-- What the OPTIONS keepalive learned: 1 answered, 0 did not, NULL not probed yet.
ALTER TABLE bindings ADD COLUMN reachable BIGINT;
-- Unix seconds the room last answered (REGISTER or OPTIONS).
ALTER TABLE bindings ADD COLUMN last_reply BIGINT;
