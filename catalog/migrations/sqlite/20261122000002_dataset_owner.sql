-- Dataset owner (free text: a team or person) and the time of the last
-- explicit refresh (Unix epoch milliseconds, 0 = never).
ALTER TABLE datasets ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE datasets ADD COLUMN refreshed_at BIGINT NOT NULL DEFAULT 0;
