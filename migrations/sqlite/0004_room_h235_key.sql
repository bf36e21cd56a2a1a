-- Hex SHA-1 of the room's password: the H.235.1 key its H.323 endpoint
-- signs RAS messages with. Empty until the password is set again.
ALTER TABLE rooms ADD COLUMN h235_key TEXT NOT NULL DEFAULT '';
