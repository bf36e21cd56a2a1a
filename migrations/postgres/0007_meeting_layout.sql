-- A meeting's own layout (by name; NULL: the installation's media.layout)
-- and its polling period in seconds (NULL: no polling).
ALTER TABLE meetings ADD COLUMN layout TEXT;
ALTER TABLE meetings ADD COLUMN polling_seconds BIGINT;
