-- The parts of the time (migration 8) in a rollup: applied twice, to
-- level2_hour and level2_day (see schema.rs), like 002_level2.sql. A view's
-- query cannot be altered: it is dropped and made again with the new
-- columns. Rows level1 takes between the two (another sensor's, on a shared
-- database) are missing from the rollup: apply on a quiet database or
-- re-insert those intervals' rows. Rows rolled up before read 0.
-- Works on ClickHouse 18.16 and modern.

ALTER TABLE {db}.{rollup} ADD COLUMN response_transfer_count AggregateFunction(sum, UInt64) AFTER resets_hist;

ALTER TABLE {db}.{rollup} COMMENT COLUMN response_transfer_count 'response_transfer: transactions with a value (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN response_transfer_min AggregateFunction(min, UInt64) AFTER response_transfer_count;

ALTER TABLE {db}.{rollup} COMMENT COLUMN response_transfer_min 'response_transfer: smallest, nanoseconds (minMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN response_transfer_max AggregateFunction(max, UInt64) AFTER response_transfer_min;

ALTER TABLE {db}.{rollup} COMMENT COLUMN response_transfer_max 'response_transfer: largest, nanoseconds (maxMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN response_transfer_sum AggregateFunction(sum, UInt64) AFTER response_transfer_max;

ALTER TABLE {db}.{rollup} COMMENT COLUMN response_transfer_sum 'response_transfer: sum, nanoseconds (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN response_transfer_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) AFTER response_transfer_sum;

ALTER TABLE {db}.{rollup} COMMENT COLUMN response_transfer_hist 'response_transfer: histogram (sumMapMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN server_idle_count AggregateFunction(sum, UInt64) AFTER response_transfer_hist;

ALTER TABLE {db}.{rollup} COMMENT COLUMN server_idle_count 'server_idle: transactions with a value (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN server_idle_min AggregateFunction(min, UInt64) AFTER server_idle_count;

ALTER TABLE {db}.{rollup} COMMENT COLUMN server_idle_min 'server_idle: smallest, nanoseconds (minMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN server_idle_max AggregateFunction(max, UInt64) AFTER server_idle_min;

ALTER TABLE {db}.{rollup} COMMENT COLUMN server_idle_max 'server_idle: largest, nanoseconds (maxMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN server_idle_sum AggregateFunction(sum, UInt64) AFTER server_idle_max;

ALTER TABLE {db}.{rollup} COMMENT COLUMN server_idle_sum 'server_idle: sum, nanoseconds (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN server_idle_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) AFTER server_idle_sum;

ALTER TABLE {db}.{rollup} COMMENT COLUMN server_idle_hist 'server_idle: histogram (sumMapMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN network_transfer_count AggregateFunction(sum, UInt64) AFTER server_idle_hist;

ALTER TABLE {db}.{rollup} COMMENT COLUMN network_transfer_count 'network_transfer: transactions with a value (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN network_transfer_min AggregateFunction(min, UInt64) AFTER network_transfer_count;

ALTER TABLE {db}.{rollup} COMMENT COLUMN network_transfer_min 'network_transfer: smallest, nanoseconds (minMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN network_transfer_max AggregateFunction(max, UInt64) AFTER network_transfer_min;

ALTER TABLE {db}.{rollup} COMMENT COLUMN network_transfer_max 'network_transfer: largest, nanoseconds (maxMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN network_transfer_sum AggregateFunction(sum, UInt64) AFTER network_transfer_max;

ALTER TABLE {db}.{rollup} COMMENT COLUMN network_transfer_sum 'network_transfer: sum, nanoseconds (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN network_transfer_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) AFTER network_transfer_sum;

ALTER TABLE {db}.{rollup} COMMENT COLUMN network_transfer_hist 'network_transfer: histogram (sumMapMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN window_wait_count AggregateFunction(sum, UInt64) AFTER network_transfer_hist;

ALTER TABLE {db}.{rollup} COMMENT COLUMN window_wait_count 'window_wait: transactions with a value (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN window_wait_min AggregateFunction(min, UInt64) AFTER window_wait_count;

ALTER TABLE {db}.{rollup} COMMENT COLUMN window_wait_min 'window_wait: smallest, nanoseconds (minMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN window_wait_max AggregateFunction(max, UInt64) AFTER window_wait_min;

ALTER TABLE {db}.{rollup} COMMENT COLUMN window_wait_max 'window_wait: largest, nanoseconds (maxMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN window_wait_sum AggregateFunction(sum, UInt64) AFTER window_wait_max;

ALTER TABLE {db}.{rollup} COMMENT COLUMN window_wait_sum 'window_wait: sum, nanoseconds (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN window_wait_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) AFTER window_wait_sum;

ALTER TABLE {db}.{rollup} COMMENT COLUMN window_wait_hist 'window_wait: histogram (sumMapMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN delivery_count AggregateFunction(sum, UInt64) AFTER window_wait_hist;

ALTER TABLE {db}.{rollup} COMMENT COLUMN delivery_count 'delivery: transactions with a value (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN delivery_min AggregateFunction(min, UInt64) AFTER delivery_count;

ALTER TABLE {db}.{rollup} COMMENT COLUMN delivery_min 'delivery: smallest, nanoseconds (minMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN delivery_max AggregateFunction(max, UInt64) AFTER delivery_min;

ALTER TABLE {db}.{rollup} COMMENT COLUMN delivery_max 'delivery: largest, nanoseconds (maxMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN delivery_sum AggregateFunction(sum, UInt64) AFTER delivery_max;

ALTER TABLE {db}.{rollup} COMMENT COLUMN delivery_sum 'delivery: sum, nanoseconds (sumMerge)';

ALTER TABLE {db}.{rollup} ADD COLUMN delivery_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) AFTER delivery_sum;

ALTER TABLE {db}.{rollup} COMMENT COLUMN delivery_hist 'delivery: histogram (sumMapMerge)';

DROP TABLE IF EXISTS {db}.{rollup}_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{rollup}_mv TO {db}.{rollup} AS
SELECT
    {start_of}(interval_start) AS interval_start,
    sensor,
    plugin,
    signature,
    server_ip,
    server_port,
    sumState(transactions) AS transactions,
    sumState(outcome_ok) AS outcome_ok,
    sumState(outcome_1xx) AS outcome_1xx,
    sumState(outcome_2xx) AS outcome_2xx,
    sumState(outcome_3xx) AS outcome_3xx,
    sumState(outcome_4xx) AS outcome_4xx,
    sumState(outcome_5xx) AS outcome_5xx,
    sumState(outcome_status_invalid) AS outcome_status_invalid,
    sumState(outcome_noerror) AS outcome_noerror,
    sumState(outcome_formerr) AS outcome_formerr,
    sumState(outcome_servfail) AS outcome_servfail,
    sumState(outcome_nxdomain) AS outcome_nxdomain,
    sumState(outcome_notimp) AS outcome_notimp,
    sumState(outcome_refused) AS outcome_refused,
    sumState(outcome_dns_other) AS outcome_dns_other,
    sumState(outcome_no_response) AS outcome_no_response,
    sumState(outcome_reset) AS outcome_reset,
    sumState(outcome_incomplete) AS outcome_incomplete,
    sumState(outcome_lost) AS outcome_lost,
    sumState(outcome_no) AS outcome_no,
    sumState(outcome_bad) AS outcome_bad,
    sumState(outcome_error) AS outcome_error,
    sumState(first_response_count) AS first_response_count,
    minState(first_response_min) AS first_response_min,
    maxState(first_response_max) AS first_response_max,
    sumState(first_response_sum) AS first_response_sum,
    sumMapState(first_response_buckets, first_response_counts) AS first_response_hist,
    sumState(last_response_count) AS last_response_count,
    minState(last_response_min) AS last_response_min,
    maxState(last_response_max) AS last_response_max,
    sumState(last_response_sum) AS last_response_sum,
    sumMapState(last_response_buckets, last_response_counts) AS last_response_hist,
    sumState(server_time_count) AS server_time_count,
    minState(server_time_min) AS server_time_min,
    maxState(server_time_max) AS server_time_max,
    sumState(server_time_sum) AS server_time_sum,
    sumMapState(server_time_buckets, server_time_counts) AS server_time_hist,
    sumState(request_time_count) AS request_time_count,
    minState(request_time_min) AS request_time_min,
    maxState(request_time_max) AS request_time_max,
    sumState(request_time_sum) AS request_time_sum,
    sumMapState(request_time_buckets, request_time_counts) AS request_time_hist,
    sumState(server_rtt_count) AS server_rtt_count,
    minState(server_rtt_min) AS server_rtt_min,
    maxState(server_rtt_max) AS server_rtt_max,
    sumState(server_rtt_sum) AS server_rtt_sum,
    sumMapState(server_rtt_buckets, server_rtt_counts) AS server_rtt_hist,
    sumState(client_rtt_count) AS client_rtt_count,
    minState(client_rtt_min) AS client_rtt_min,
    maxState(client_rtt_max) AS client_rtt_max,
    sumState(client_rtt_sum) AS client_rtt_sum,
    sumMapState(client_rtt_buckets, client_rtt_counts) AS client_rtt_hist,
    sumState(network_rtt_count) AS network_rtt_count,
    minState(network_rtt_min) AS network_rtt_min,
    maxState(network_rtt_max) AS network_rtt_max,
    sumState(network_rtt_sum) AS network_rtt_sum,
    sumMapState(network_rtt_buckets, network_rtt_counts) AS network_rtt_hist,
    sumState(last_ack_count) AS last_ack_count,
    minState(last_ack_min) AS last_ack_min,
    maxState(last_ack_max) AS last_ack_max,
    sumState(last_ack_sum) AS last_ack_sum,
    sumMapState(last_ack_buckets, last_ack_counts) AS last_ack_hist,
    sumState(est_delivery_count) AS est_delivery_count,
    minState(est_delivery_min) AS est_delivery_min,
    maxState(est_delivery_max) AS est_delivery_max,
    sumState(est_delivery_sum) AS est_delivery_sum,
    sumMapState(est_delivery_buckets, est_delivery_counts) AS est_delivery_hist,
    sumState(acked_packets_count) AS acked_packets_count,
    minState(acked_packets_min) AS acked_packets_min,
    maxState(acked_packets_max) AS acked_packets_max,
    sumState(acked_packets_sum) AS acked_packets_sum,
    sumMapState(acked_packets_buckets, acked_packets_counts) AS acked_packets_hist,
    sumState(acked_bytes_count) AS acked_bytes_count,
    minState(acked_bytes_min) AS acked_bytes_min,
    maxState(acked_bytes_max) AS acked_bytes_max,
    sumState(acked_bytes_sum) AS acked_bytes_sum,
    sumMapState(acked_bytes_buckets, acked_bytes_counts) AS acked_bytes_hist,
    sumState(server_packets_count) AS server_packets_count,
    minState(server_packets_min) AS server_packets_min,
    maxState(server_packets_max) AS server_packets_max,
    sumState(server_packets_sum) AS server_packets_sum,
    sumMapState(server_packets_buckets, server_packets_counts) AS server_packets_hist,
    sumState(server_bytes_count) AS server_bytes_count,
    minState(server_bytes_min) AS server_bytes_min,
    maxState(server_bytes_max) AS server_bytes_max,
    sumState(server_bytes_sum) AS server_bytes_sum,
    sumMapState(server_bytes_buckets, server_bytes_counts) AS server_bytes_hist,
    sumState(server_packet_size_count) AS server_packet_size_count,
    minState(server_packet_size_min) AS server_packet_size_min,
    maxState(server_packet_size_max) AS server_packet_size_max,
    sumState(server_packet_size_sum) AS server_packet_size_sum,
    sumMapState(server_packet_size_buckets, server_packet_size_counts) AS server_packet_size_hist,
    sumState(request_packets_count) AS request_packets_count,
    minState(request_packets_min) AS request_packets_min,
    maxState(request_packets_max) AS request_packets_max,
    sumState(request_packets_sum) AS request_packets_sum,
    sumMapState(request_packets_buckets, request_packets_counts) AS request_packets_hist,
    sumState(request_bytes_count) AS request_bytes_count,
    minState(request_bytes_min) AS request_bytes_min,
    maxState(request_bytes_max) AS request_bytes_max,
    sumState(request_bytes_sum) AS request_bytes_sum,
    sumMapState(request_bytes_buckets, request_bytes_counts) AS request_bytes_hist,
    sumState(client_mss_count) AS client_mss_count,
    minState(client_mss_min) AS client_mss_min,
    maxState(client_mss_max) AS client_mss_max,
    sumState(client_mss_sum) AS client_mss_sum,
    sumMapState(client_mss_buckets, client_mss_counts) AS client_mss_hist,
    sumState(server_mss_count) AS server_mss_count,
    minState(server_mss_min) AS server_mss_min,
    maxState(server_mss_max) AS server_mss_max,
    sumState(server_mss_sum) AS server_mss_sum,
    sumMapState(server_mss_buckets, server_mss_counts) AS server_mss_hist,
    sumState(client_window_count) AS client_window_count,
    minState(client_window_min) AS client_window_min,
    maxState(client_window_max) AS client_window_max,
    sumState(client_window_sum) AS client_window_sum,
    sumMapState(client_window_buckets, client_window_counts) AS client_window_hist,
    sumState(server_window_count) AS server_window_count,
    minState(server_window_min) AS server_window_min,
    maxState(server_window_max) AS server_window_max,
    sumState(server_window_sum) AS server_window_sum,
    sumMapState(server_window_buckets, server_window_counts) AS server_window_hist,
    sumState(retransmits_client_count) AS retransmits_client_count,
    minState(retransmits_client_min) AS retransmits_client_min,
    maxState(retransmits_client_max) AS retransmits_client_max,
    sumState(retransmits_client_sum) AS retransmits_client_sum,
    sumMapState(retransmits_client_buckets, retransmits_client_counts) AS retransmits_client_hist,
    sumState(retransmits_server_count) AS retransmits_server_count,
    minState(retransmits_server_min) AS retransmits_server_min,
    maxState(retransmits_server_max) AS retransmits_server_max,
    sumState(retransmits_server_sum) AS retransmits_server_sum,
    sumMapState(retransmits_server_buckets, retransmits_server_counts) AS retransmits_server_hist,
    sumState(zero_windows_count) AS zero_windows_count,
    minState(zero_windows_min) AS zero_windows_min,
    maxState(zero_windows_max) AS zero_windows_max,
    sumState(zero_windows_sum) AS zero_windows_sum,
    sumMapState(zero_windows_buckets, zero_windows_counts) AS zero_windows_hist,
    sumState(resets_count) AS resets_count,
    minState(resets_min) AS resets_min,
    maxState(resets_max) AS resets_max,
    sumState(resets_sum) AS resets_sum,
    sumMapState(resets_buckets, resets_counts) AS resets_hist,
    sumState(response_transfer_count) AS response_transfer_count,
    minState(response_transfer_min) AS response_transfer_min,
    maxState(response_transfer_max) AS response_transfer_max,
    sumState(response_transfer_sum) AS response_transfer_sum,
    sumMapState(response_transfer_buckets, response_transfer_counts) AS response_transfer_hist,
    sumState(server_idle_count) AS server_idle_count,
    minState(server_idle_min) AS server_idle_min,
    maxState(server_idle_max) AS server_idle_max,
    sumState(server_idle_sum) AS server_idle_sum,
    sumMapState(server_idle_buckets, server_idle_counts) AS server_idle_hist,
    sumState(network_transfer_count) AS network_transfer_count,
    minState(network_transfer_min) AS network_transfer_min,
    maxState(network_transfer_max) AS network_transfer_max,
    sumState(network_transfer_sum) AS network_transfer_sum,
    sumMapState(network_transfer_buckets, network_transfer_counts) AS network_transfer_hist,
    sumState(window_wait_count) AS window_wait_count,
    minState(window_wait_min) AS window_wait_min,
    maxState(window_wait_max) AS window_wait_max,
    sumState(window_wait_sum) AS window_wait_sum,
    sumMapState(window_wait_buckets, window_wait_counts) AS window_wait_hist,
    sumState(delivery_count) AS delivery_count,
    minState(delivery_min) AS delivery_min,
    maxState(delivery_max) AS delivery_max,
    sumState(delivery_sum) AS delivery_sum,
    sumMapState(delivery_buckets, delivery_counts) AS delivery_hist
FROM {db}.level1
GROUP BY interval_start, sensor, plugin, signature, server_ip, server_port
