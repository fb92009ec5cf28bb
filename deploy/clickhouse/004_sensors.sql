-- Columns must match the row encoder in sensor/src/export/encode.rs; the
-- storage tests compare them with DESCRIBE TABLE on a real server.
-- {db} is replaced by the database name. Works on ClickHouse 18.16 and modern.

CREATE TABLE IF NOT EXISTS {db}.sensors
(
    interval_start DateTime COMMENT 'start of the interval (UTC)',
    interval_seconds UInt32 COMMENT 'length of the interval in seconds',
    sensor String COMMENT 'sensor name',
    version String COMMENT 'pastmon version of the sensor',
    packets UInt64 COMMENT 'frames captured',
    bytes UInt64 COMMENT 'bytes on the wire',
    skipped_unsupported_link_type UInt64 COMMENT 'frames not analysed: unsupported link type',
    skipped_truncated_link UInt64 COMMENT 'frames not analysed: truncated link',
    skipped_not_ip UInt64 COMMENT 'frames not analysed: not ip',
    skipped_bad_ip_header UInt64 COMMENT 'frames not analysed: bad ip header',
    skipped_ip_fragment UInt64 COMMENT 'frames not analysed: ip fragment',
    skipped_not_tcp_udp UInt64 COMMENT 'frames not analysed: not tcp udp',
    skipped_bad_transport_header UInt64 COMMENT 'frames not analysed: bad transport header',
    first_fragments UInt64 COMMENT 'first IP fragments analysed as truncated packets',
    flows UInt64 COMMENT 'flows started',
    midstream UInt64 COMMENT 'TCP connections picked up without their handshake',
    evicted UInt64 COMMENT 'flows evicted by the flow cap',
    retransmissions UInt64 COMMENT 'retransmitted TCP segments',
    out_of_order UInt64 COMMENT 'TCP segments ahead of a hole',
    lost_bytes UInt64 COMMENT 'payload bytes missing from the capture',
    truncated_bytes UInt64 COMMENT 'payload bytes cut by the snapshot length',
    transactions UInt64 COMMENT 'transactions whose request started in the interval',
    unmatched_responses UInt64 COMMENT 'responses without a request',
    late_transactions UInt64 COMMENT 'transactions that finished after their interval was exported',
    export_lag_seconds UInt32 COMMENT 'seconds between the end of the interval and its export',
    spool_bytes UInt64 COMMENT 'bytes waiting in the sensor\'s spool when the row was written',
    batch_id UInt64 COMMENT 'export batch, unique per sensor'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(interval_start)
ORDER BY (sensor, interval_start)
