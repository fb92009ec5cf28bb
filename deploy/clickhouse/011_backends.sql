-- Backends: the calls a watched server made to other watched servers while
-- its own transactions waited on it (see the README's "Backends"), paired
-- by the sensor per call. One row per interval, front signature at its
-- server, and backend signature at its server. The share of the front's
-- server time a backend explains is sum(backend_time_sum) over
-- sum(level1.server_time_sum) of the same front and intervals.
-- Columns must match the row encoder in sensor/src/export/encode.rs; the
-- storage tests compare them with DESCRIBE TABLE on a real server.
-- {db} is replaced by the database name. Works on ClickHouse 18.16 and modern.

CREATE TABLE IF NOT EXISTS {db}.backends
(
    interval_start DateTime COMMENT 'start of the interval (UTC) in which the front transactions\' requests started',
    interval_seconds UInt32 COMMENT 'length of the interval in seconds',
    sensor String COMMENT 'name of the sensor that measured the row',
    plugin String COMMENT 'front: protocol plugin',
    signature String COMMENT 'front: signature of the transactions that waited',
    server_ip String COMMENT 'front: server address (the backend\'s client)',
    server_port UInt16 COMMENT 'front: server port',
    backend_plugin String COMMENT 'backend: protocol plugin of the calls',
    backend_signature String COMMENT 'backend: signature of the calls',
    backend_ip String COMMENT 'backend: server address',
    backend_port UInt16 COMMENT 'backend: server port',
    calls Float64 COMMENT 'calls made while a front transaction waited; a call during the waits of n concurrent front transactions counts 1/n at each',
    backend_time_sum UInt64 COMMENT 'time of those calls (request\'s first packet to response\'s last), nanoseconds, shared likewise',
    batch_id UInt64 COMMENT 'export batch, unique per sensor: a replayed batch is recognised and not inserted twice'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(interval_start)
ORDER BY (plugin, signature, server_ip, server_port, interval_start)
