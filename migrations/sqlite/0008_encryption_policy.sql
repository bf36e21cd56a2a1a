-- A meeting's and a room account's own encryption policy ('required',
-- 'optional', 'off'; a meeting can only require it; NULL: the
-- installation's media.encryption).
ALTER TABLE meetings ADD COLUMN encryption TEXT;
ALTER TABLE rooms ADD COLUMN encryption TEXT;
