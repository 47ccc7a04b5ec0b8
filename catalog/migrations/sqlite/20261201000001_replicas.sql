-- Server replicas that advertise an address (--advertise-url), with the
-- last time each said it was alive (Unix epoch milliseconds). GetFlightInfo
-- spreads a download's endpoints over the live ones.
CREATE TABLE replicas (
    url     TEXT PRIMARY KEY NOT NULL,
    seen_at BIGINT NOT NULL
);
