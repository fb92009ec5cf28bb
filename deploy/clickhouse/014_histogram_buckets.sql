-- The bounds of the histogram buckets, so that SQL reads the stored
-- histograms (<metric>_buckets and <metric>_counts, merged with sumMap):
-- bucket id → its smallest value (lower_bound), the first value past it
-- (upper_bound), upper_bound - lower_bound (width), and the value the console reports for a percentile that
-- falls in it (middle), in the metric's unit (nanoseconds for times). Ids
-- below 32 are the values themselves; above, 16 buckets per power of two
-- (pastmon_model::histogram::bucket_bounds, which the storage test compares
-- with this view bucket by bucket). A view, not rows: it exists on every node
-- of a cluster and nothing has to write it. The README shows percentiles in
-- plain SQL with it. Works on ClickHouse 18.16 and modern.

CREATE VIEW IF NOT EXISTS {db}.histogram_buckets AS
SELECT
    toUInt16(number) AS bucket,
    toUInt64(if(number < 32, number, bitShiftLeft(toUInt64(16 + number % 16), toUInt64(intDiv(number, 16) - 1)))) AS lower_bound,
    toUInt64(if(number < 32, 1, bitShiftLeft(toUInt64(1), toUInt64(intDiv(number, 16) - 1)))) AS width,
    toUInt64(if(number = 975, 18446744073709551615, lower_bound + width)) AS upper_bound,
    toUInt64(lower_bound + intDiv(toUInt64(width - 1), 2)) AS middle
FROM system.numbers
LIMIT 976;
