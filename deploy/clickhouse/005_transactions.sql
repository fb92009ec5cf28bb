-- Columns must match the row encoder in sensor/src/export/encode.rs; the
-- storage tests compare them with DESCRIBE TABLE on a real server.
-- Optional per-transaction rows (analysis.transactions_sample > 0).
-- {db} is replaced by the database name. Works on ClickHouse 18.16 and modern.

CREATE TABLE IF NOT EXISTS {db}.transactions
(
    start DateTime COMMENT 'request start (UTC), whole seconds',
    start_ns UInt64 COMMENT 'request start, Unix nanoseconds',
    sensor String COMMENT 'name of the sensor that measured the transaction',
    plugin String COMMENT 'protocol plugin: http, dns, tcp ...',
    signature String COMMENT 'transaction name given by the signature rules',
    client_ip String COMMENT 'client address',
    client_port UInt16 COMMENT 'client port',
    server_ip String COMMENT 'server address',
    server_port UInt16 COMMENT 'server port',
    outcome String COMMENT 'HTTP status class, DNS rcode, no_response, reset, incomplete, lost, ok',
    code UInt16 COMMENT 'protocol result code (HTTP status, DNS rcode); 0 when none',
    first_response Nullable(UInt64) COMMENT 'first_response of this transaction (nanoseconds); NULL where it does not apply',
    last_response Nullable(UInt64) COMMENT 'last_response of this transaction (nanoseconds); NULL where it does not apply',
    server_time Nullable(UInt64) COMMENT 'server_time of this transaction (nanoseconds); NULL where it does not apply',
    request_time Nullable(UInt64) COMMENT 'request_time of this transaction (nanoseconds); NULL where it does not apply',
    server_rtt Nullable(UInt64) COMMENT 'server_rtt of this transaction (nanoseconds); NULL where it does not apply',
    client_rtt Nullable(UInt64) COMMENT 'client_rtt of this transaction (nanoseconds); NULL where it does not apply',
    network_rtt Nullable(UInt64) COMMENT 'network_rtt of this transaction (nanoseconds); NULL where it does not apply',
    last_ack Nullable(UInt64) COMMENT 'last_ack of this transaction (nanoseconds); NULL where it does not apply',
    est_delivery Nullable(UInt64) COMMENT 'est_delivery of this transaction (nanoseconds); NULL where it does not apply',
    acked_packets Nullable(UInt64) COMMENT 'acked_packets of this transaction (see level1); NULL where it does not apply',
    acked_bytes Nullable(UInt64) COMMENT 'acked_bytes of this transaction (see level1); NULL where it does not apply',
    server_packets Nullable(UInt64) COMMENT 'server_packets of this transaction (see level1); NULL where it does not apply',
    server_bytes Nullable(UInt64) COMMENT 'server_bytes of this transaction (see level1); NULL where it does not apply',
    server_packet_size Nullable(UInt64) COMMENT 'server_packet_size of this transaction (see level1); NULL where it does not apply',
    request_packets Nullable(UInt64) COMMENT 'request_packets of this transaction (see level1); NULL where it does not apply',
    request_bytes Nullable(UInt64) COMMENT 'request_bytes of this transaction (see level1); NULL where it does not apply',
    client_mss Nullable(UInt64) COMMENT 'client_mss of this transaction (see level1); NULL where it does not apply',
    server_mss Nullable(UInt64) COMMENT 'server_mss of this transaction (see level1); NULL where it does not apply',
    client_window Nullable(UInt64) COMMENT 'client_window of this transaction (see level1); NULL where it does not apply',
    server_window Nullable(UInt64) COMMENT 'server_window of this transaction (see level1); NULL where it does not apply',
    retransmits_client Nullable(UInt64) COMMENT 'retransmits_client of this transaction (see level1); NULL where it does not apply',
    retransmits_server Nullable(UInt64) COMMENT 'retransmits_server of this transaction (see level1); NULL where it does not apply',
    zero_windows Nullable(UInt64) COMMENT 'zero_windows of this transaction (see level1); NULL where it does not apply',
    resets Nullable(UInt64) COMMENT 'resets of this transaction (see level1); NULL where it does not apply',
    batch_id UInt64 COMMENT 'export batch, unique per sensor'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(start)
ORDER BY (plugin, signature, server_ip, start)
