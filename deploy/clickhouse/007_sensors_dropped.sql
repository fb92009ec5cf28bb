-- Frames a live capture lost before the sensor read them (socket drops, full
-- rings, failed redirects), per interval. ClickHouse 18.16 has no
-- ADD COLUMN IF NOT EXISTS (the migration runner skips an ADD COLUMN whose
-- column exists) and ignores a comment in ADD COLUMN (hence COMMENT COLUMN).
-- Works on ClickHouse 18.16 and modern.

ALTER TABLE {db}.sensors ADD COLUMN dropped UInt64 AFTER bytes;

ALTER TABLE {db}.sensors COMMENT COLUMN dropped 'frames lost before analysis (socket drops, full rings, failed redirects)'
