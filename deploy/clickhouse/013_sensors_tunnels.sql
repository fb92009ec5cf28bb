-- Frames by the tunnels they came through (VXLAN, GENEVE, GRE, ERSPAN, IP in
-- IP, MPLS): frames, their bytes on the wire, and malformed tunnel headers,
-- per interval; a frame counts under every encapsulation it went through.
-- Columns in the order of encode::sensors_columns (after late_transactions).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS (the migration runner
-- skips an ADD COLUMN whose column exists) and ignores a comment in ADD
-- COLUMN (hence COMMENT COLUMN). Works on ClickHouse 18.16 and modern.

ALTER TABLE {db}.sensors ADD COLUMN tunnel_vxlan_frames UInt64 AFTER late_transactions;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_vxlan_bytes UInt64 AFTER tunnel_vxlan_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_vxlan_malformed UInt64 AFTER tunnel_vxlan_bytes;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_geneve_frames UInt64 AFTER tunnel_vxlan_malformed;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_geneve_bytes UInt64 AFTER tunnel_geneve_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_geneve_malformed UInt64 AFTER tunnel_geneve_bytes;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_gre_frames UInt64 AFTER tunnel_geneve_malformed;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_gre_bytes UInt64 AFTER tunnel_gre_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_gre_malformed UInt64 AFTER tunnel_gre_bytes;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_erspan_frames UInt64 AFTER tunnel_gre_malformed;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_erspan_bytes UInt64 AFTER tunnel_erspan_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_erspan_malformed UInt64 AFTER tunnel_erspan_bytes;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_ipip_frames UInt64 AFTER tunnel_erspan_malformed;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_ipip_bytes UInt64 AFTER tunnel_ipip_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_ipip_malformed UInt64 AFTER tunnel_ipip_bytes;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_mpls_frames UInt64 AFTER tunnel_ipip_malformed;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_mpls_bytes UInt64 AFTER tunnel_mpls_frames;

ALTER TABLE {db}.sensors ADD COLUMN tunnel_mpls_malformed UInt64 AFTER tunnel_mpls_bytes;

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_vxlan_frames 'frames that came through VXLAN';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_vxlan_bytes 'bytes on the wire of frames that came through VXLAN';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_vxlan_malformed 'VXLAN headers cut short or inconsistent (frames skipped)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_geneve_frames 'frames that came through GENEVE';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_geneve_bytes 'bytes on the wire of frames that came through GENEVE';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_geneve_malformed 'GENEVE headers cut short or inconsistent (frames skipped)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_gre_frames 'frames that came through GRE (not ERSPAN)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_gre_bytes 'bytes on the wire of frames that came through GRE (not ERSPAN)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_gre_malformed 'GRE (not ERSPAN) headers cut short or inconsistent (frames skipped)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_erspan_frames 'frames that came through ERSPAN';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_erspan_bytes 'bytes on the wire of frames that came through ERSPAN';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_erspan_malformed 'ERSPAN headers cut short or inconsistent (frames skipped)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_ipip_frames 'frames that came through IP in IP';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_ipip_bytes 'bytes on the wire of frames that came through IP in IP';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_ipip_malformed 'IP in IP headers cut short or inconsistent (frames skipped)';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_mpls_frames 'frames that came through MPLS';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_mpls_bytes 'bytes on the wire of frames that came through MPLS';

ALTER TABLE {db}.sensors COMMENT COLUMN tunnel_mpls_malformed 'MPLS headers cut short or inconsistent (frames skipped)'
