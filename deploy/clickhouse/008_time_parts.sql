-- The parts of a transaction's time that add up to it (see the README's
-- "Where the time goes"): request_time + server_time + response_transfer +
-- delivery, the transfer split into server_idle, network_transfer and
-- window_wait. Columns like every metric's, before batch_id, so that the
-- row encoder's order holds; rows stored before this migration read 0 and
-- the largest number for min, as a metric without a value.
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS (the migration runner
-- skips an ADD COLUMN whose column exists) and ignores a comment in ADD
-- COLUMN (hence COMMENT COLUMN). Works on ClickHouse 18.16 and modern.

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_count UInt64 AFTER resets_counts;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_count 'transactions with a response_transfer value (time from the response\'s first packet to its last (server_idle + network_transfer + window_wait))';

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_min UInt64 AFTER response_transfer_count;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_min 'smallest response_transfer, nanoseconds; 18446744073709551615 when response_transfer_count = 0, so min() needs no filter';

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_max UInt64 AFTER response_transfer_min;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_max 'largest response_transfer, nanoseconds';

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_sum UInt64 AFTER response_transfer_max;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_sum 'sum of response_transfer, nanoseconds: avg = response_transfer_sum / response_transfer_count';

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_buckets Array(UInt16) AFTER response_transfer_sum;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_buckets 'histogram of response_transfer: bucket ids (log-linear, merge with sumMap)';

ALTER TABLE {db}.level1 ADD COLUMN response_transfer_counts Array(UInt64) AFTER response_transfer_buckets;

ALTER TABLE {db}.level1 COMMENT COLUMN response_transfer_counts 'histogram of response_transfer: transactions per bucket';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_count UInt64 AFTER response_transfer_counts;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_count 'transactions with a server_idle value (response transfer time with everything sent acknowledged and the server sending more later: it was still producing the response)';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_min UInt64 AFTER server_idle_count;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_min 'smallest server_idle, nanoseconds; 18446744073709551615 when server_idle_count = 0, so min() needs no filter';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_max UInt64 AFTER server_idle_min;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_max 'largest server_idle, nanoseconds';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_sum UInt64 AFTER server_idle_max;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_sum 'sum of server_idle, nanoseconds: avg = server_idle_sum / server_idle_count';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_buckets Array(UInt16) AFTER server_idle_sum;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_buckets 'histogram of server_idle: bucket ids (log-linear, merge with sumMap)';

ALTER TABLE {db}.level1 ADD COLUMN server_idle_counts Array(UInt64) AFTER server_idle_buckets;

ALTER TABLE {db}.level1 COMMENT COLUMN server_idle_counts 'histogram of server_idle: transactions per bucket';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_count UInt64 AFTER server_idle_counts;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_count 'transactions with a network_transfer value (response transfer time with data in flight, waiting for ACKs or repairs)';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_min UInt64 AFTER network_transfer_count;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_min 'smallest network_transfer, nanoseconds; 18446744073709551615 when network_transfer_count = 0, so min() needs no filter';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_max UInt64 AFTER network_transfer_min;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_max 'largest network_transfer, nanoseconds';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_sum UInt64 AFTER network_transfer_max;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_sum 'sum of network_transfer, nanoseconds: avg = network_transfer_sum / network_transfer_count';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_buckets Array(UInt16) AFTER network_transfer_sum;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_buckets 'histogram of network_transfer: bucket ids (log-linear, merge with sumMap)';

ALTER TABLE {db}.level1 ADD COLUMN network_transfer_counts Array(UInt64) AFTER network_transfer_buckets;

ALTER TABLE {db}.level1 COMMENT COLUMN network_transfer_counts 'histogram of network_transfer: transactions per bucket';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_count UInt64 AFTER network_transfer_counts;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_count 'transactions with a window_wait value (response transfer time with the client\'s receive window full or zero)';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_min UInt64 AFTER window_wait_count;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_min 'smallest window_wait, nanoseconds; 18446744073709551615 when window_wait_count = 0, so min() needs no filter';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_max UInt64 AFTER window_wait_min;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_max 'largest window_wait, nanoseconds';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_sum UInt64 AFTER window_wait_max;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_sum 'sum of window_wait, nanoseconds: avg = window_wait_sum / window_wait_count';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_buckets Array(UInt16) AFTER window_wait_sum;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_buckets 'histogram of window_wait: bucket ids (log-linear, merge with sumMap)';

ALTER TABLE {db}.level1 ADD COLUMN window_wait_counts Array(UInt64) AFTER window_wait_buckets;

ALTER TABLE {db}.level1 COMMENT COLUMN window_wait_counts 'histogram of window_wait: transactions per bucket';

ALTER TABLE {db}.level1 ADD COLUMN delivery_count UInt64 AFTER window_wait_counts;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_count 'transactions with a delivery value (time from the response\'s last packet to the client\'s ACK of its last byte)';

ALTER TABLE {db}.level1 ADD COLUMN delivery_min UInt64 AFTER delivery_count;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_min 'smallest delivery, nanoseconds; 18446744073709551615 when delivery_count = 0, so min() needs no filter';

ALTER TABLE {db}.level1 ADD COLUMN delivery_max UInt64 AFTER delivery_min;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_max 'largest delivery, nanoseconds';

ALTER TABLE {db}.level1 ADD COLUMN delivery_sum UInt64 AFTER delivery_max;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_sum 'sum of delivery, nanoseconds: avg = delivery_sum / delivery_count';

ALTER TABLE {db}.level1 ADD COLUMN delivery_buckets Array(UInt16) AFTER delivery_sum;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_buckets 'histogram of delivery: bucket ids (log-linear, merge with sumMap)';

ALTER TABLE {db}.level1 ADD COLUMN delivery_counts Array(UInt64) AFTER delivery_buckets;

ALTER TABLE {db}.level1 COMMENT COLUMN delivery_counts 'histogram of delivery: transactions per bucket';

ALTER TABLE {db}.transactions ADD COLUMN response_transfer Nullable(UInt64) AFTER resets;

ALTER TABLE {db}.transactions COMMENT COLUMN response_transfer 'response_transfer of this transaction (see level1), nanoseconds; NULL where it does not apply';

ALTER TABLE {db}.transactions ADD COLUMN server_idle Nullable(UInt64) AFTER response_transfer;

ALTER TABLE {db}.transactions COMMENT COLUMN server_idle 'server_idle of this transaction (see level1), nanoseconds; NULL where it does not apply';

ALTER TABLE {db}.transactions ADD COLUMN network_transfer Nullable(UInt64) AFTER server_idle;

ALTER TABLE {db}.transactions COMMENT COLUMN network_transfer 'network_transfer of this transaction (see level1), nanoseconds; NULL where it does not apply';

ALTER TABLE {db}.transactions ADD COLUMN window_wait Nullable(UInt64) AFTER network_transfer;

ALTER TABLE {db}.transactions COMMENT COLUMN window_wait 'window_wait of this transaction (see level1), nanoseconds; NULL where it does not apply';

ALTER TABLE {db}.transactions ADD COLUMN delivery Nullable(UInt64) AFTER window_wait;

ALTER TABLE {db}.transactions COMMENT COLUMN delivery 'delivery of this transaction (see level1), nanoseconds; NULL where it does not apply'
