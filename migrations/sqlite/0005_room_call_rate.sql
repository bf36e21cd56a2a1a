-- The most a room's calls may use, kbit/s, audio and video together
-- (NULL: the installation's media.max_call_rate_kbps).
ALTER TABLE rooms ADD COLUMN max_call_rate_kbps BIGINT;
