-- Hourly totals per signature: what the console's Level 1 page reads for
-- ranges beyond three hours (PasTmon's Level 1 had no server either). It
-- keeps only what that page shows (transactions, outcomes, first and last
-- response), so its view costs an insert a fraction of a full rollup's.
-- {db} is replaced by the database name. Works on ClickHouse 18.16 and modern.

CREATE TABLE IF NOT EXISTS {db}.signatures_hour
(
    interval_start DateTime COMMENT 'start of the hour (UTC)',
    sensor String COMMENT 'name of the sensor that measured the row',
    plugin String COMMENT 'protocol plugin: http, dns, tcp ...',
    signature String COMMENT 'transaction name given by the signature rules',
    transactions AggregateFunction(sum, UInt64) COMMENT 'transactions (sumMerge)',
    outcome_ok AggregateFunction(sum, UInt64) COMMENT 'outcome ok (sumMerge)',
    outcome_1xx AggregateFunction(sum, UInt64) COMMENT 'outcome 1xx (sumMerge)',
    outcome_2xx AggregateFunction(sum, UInt64) COMMENT 'outcome 2xx (sumMerge)',
    outcome_3xx AggregateFunction(sum, UInt64) COMMENT 'outcome 3xx (sumMerge)',
    outcome_4xx AggregateFunction(sum, UInt64) COMMENT 'outcome 4xx (sumMerge)',
    outcome_5xx AggregateFunction(sum, UInt64) COMMENT 'outcome 5xx (sumMerge)',
    outcome_status_invalid AggregateFunction(sum, UInt64) COMMENT 'outcome status_invalid (sumMerge)',
    outcome_noerror AggregateFunction(sum, UInt64) COMMENT 'outcome noerror (sumMerge)',
    outcome_formerr AggregateFunction(sum, UInt64) COMMENT 'outcome formerr (sumMerge)',
    outcome_servfail AggregateFunction(sum, UInt64) COMMENT 'outcome servfail (sumMerge)',
    outcome_nxdomain AggregateFunction(sum, UInt64) COMMENT 'outcome nxdomain (sumMerge)',
    outcome_notimp AggregateFunction(sum, UInt64) COMMENT 'outcome notimp (sumMerge)',
    outcome_refused AggregateFunction(sum, UInt64) COMMENT 'outcome refused (sumMerge)',
    outcome_dns_other AggregateFunction(sum, UInt64) COMMENT 'outcome dns_other (sumMerge)',
    outcome_no_response AggregateFunction(sum, UInt64) COMMENT 'outcome no_response (sumMerge)',
    outcome_reset AggregateFunction(sum, UInt64) COMMENT 'outcome reset (sumMerge)',
    outcome_incomplete AggregateFunction(sum, UInt64) COMMENT 'outcome incomplete (sumMerge)',
    outcome_lost AggregateFunction(sum, UInt64) COMMENT 'outcome lost (sumMerge)',
    outcome_no AggregateFunction(sum, UInt64) COMMENT 'outcome no (sumMerge)',
    outcome_bad AggregateFunction(sum, UInt64) COMMENT 'outcome bad (sumMerge)',
    outcome_error AggregateFunction(sum, UInt64) COMMENT 'outcome error (sumMerge)',
    first_response_count AggregateFunction(sum, UInt64) COMMENT 'first_response: transactions with a value (sumMerge)',
    first_response_min AggregateFunction(min, UInt64) COMMENT 'first_response: smallest, nanoseconds (minMerge)',
    first_response_max AggregateFunction(max, UInt64) COMMENT 'first_response: largest, nanoseconds (maxMerge)',
    first_response_sum AggregateFunction(sum, UInt64) COMMENT 'first_response: sum, nanoseconds (sumMerge)',
    first_response_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) COMMENT 'first_response: histogram (sumMapMerge)',
    last_response_count AggregateFunction(sum, UInt64) COMMENT 'last_response: transactions with a value (sumMerge)',
    last_response_min AggregateFunction(min, UInt64) COMMENT 'last_response: smallest, nanoseconds (minMerge)',
    last_response_max AggregateFunction(max, UInt64) COMMENT 'last_response: largest, nanoseconds (maxMerge)',
    last_response_sum AggregateFunction(sum, UInt64) COMMENT 'last_response: sum, nanoseconds (sumMerge)',
    last_response_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)) COMMENT 'last_response: histogram (sumMapMerge)'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(interval_start)
ORDER BY (plugin, signature, sensor, interval_start)
-- Rows of aggregate states are heavy and a query reads at least one granule
-- per part: small granules keep a one-signature chart cheap.
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.signatures_hour_mv TO {db}.signatures_hour AS
SELECT
    toStartOfHour(interval_start) AS interval_start,
    sensor,
    plugin,
    signature,
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
    sumMapState(last_response_buckets, last_response_counts) AS last_response_hist
FROM {db}.level1
GROUP BY interval_start, sensor, plugin, signature;
