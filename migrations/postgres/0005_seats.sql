-- Seats in meetings, shared by the nodes of a cluster: admission counts
-- them against a meeting's capacity wherever its rooms arrive. A node
-- renews its seats while it runs; seats it stopped renewing (a node that
-- died) no longer count. (A node alone counts in memory; SQLite has no
-- such table.)
CREATE TABLE seats (
    id      BIGSERIAL PRIMARY KEY,
    meeting TEXT NOT NULL,
    node    TEXT NOT NULL,
    holder  TEXT NOT NULL,
    renewed BIGINT NOT NULL
);
CREATE INDEX seats_meeting ON seats (meeting);
CREATE INDEX seats_node ON seats (node);
