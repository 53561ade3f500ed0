//! Site samples for reports: per-phase grid current, power, the limit in force and whether the
//! chargers were curtailed, at a coarse resolution (the caller aggregates the control loop's
//! one-second values, e.g. per minute). As rows age, [`downsample`] merges them into longer
//! buckets.

use super::error::StoreResult;
use super::{Millis, atomically};
use rusqlite::{Connection, params};

/// One site sample, standing for `span_ms` from `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSample {
    /// Start of the period.
    pub at: Millis,
    /// Length of the period, ms (> 0).
    pub span_ms: i64,
    /// Mean grid current per phase L1..L3, A (`None`: not measured).
    pub current_a: [Option<f64>; 3],
    /// Mean site power, W.
    pub power_w: Option<f64>,
    /// The site limit in force per phase, A (lowest over the period).
    pub limit_a: [Option<f64>; 3],
    /// Whether any charger got less than it asked for during the period.
    pub curtailed: bool,
    /// Mean power the curtailed chargers could have taken beyond what they got, W (an estimate
    /// from the allocator; `None` in samples recorded before it was kept).
    pub deferred_w: Option<f64>,
}

/// Record a site sample.
pub fn record_site_sample(conn: &Connection, s: &SiteSample) -> StoreResult<()> {
    if s.span_ms <= 0 {
        return Err(super::StoreError::Invalid(format!(
            "a site sample must cover a positive span (got {} ms)",
            s.span_ms
        )));
    }
    conn.execute(
        "INSERT INTO site_samples (at, span_ms, l1_a, l2_a, l3_a, power_w, \
         limit_l1_a, limit_l2_a, limit_l3_a, curtailed, deferred_w) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            s.at,
            s.span_ms,
            s.current_a[0],
            s.current_a[1],
            s.current_a[2],
            s.power_w,
            s.limit_a[0],
            s.limit_a[1],
            s.limit_a[2],
            s.curtailed,
            s.deferred_w
        ],
    )?;
    Ok(())
}

/// The samples that start in `[from, to)`, in time order.
pub fn site_samples(conn: &Connection, from: Millis, to: Millis) -> StoreResult<Vec<SiteSample>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, span_ms, l1_a, l2_a, l3_a, power_w, limit_l1_a, limit_l2_a, limit_l3_a, \
         curtailed, deferred_w FROM site_samples WHERE at >= ?1 AND at < ?2 ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok(SiteSample {
            at: r.get(0)?,
            span_ms: r.get(1)?,
            current_a: [r.get(2)?, r.get(3)?, r.get(4)?],
            power_w: r.get(5)?,
            limit_a: [r.get(6)?, r.get(7)?, r.get(8)?],
            curtailed: r.get(9)?,
            deferred_w: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Merge the samples shorter than `bucket_ms` that start before `before` into one row per
/// bucket (buckets aligned to the epoch; `before` is rounded down to a bucket boundary, so no
/// bucket is merged half-way). Currents, power and deferred power become span-weighted means,
/// limits the lowest, curtailed whether any was. A bucket already down to one row is left as it is, so running it
/// again changes nothing. Returns the number of rows removed (merged rows minus buckets).
pub fn downsample(conn: &Connection, before: Millis, bucket_ms: i64) -> StoreResult<u64> {
    if bucket_ms <= 0 {
        return Err(super::StoreError::Invalid(
            "the downsampling bucket must be positive".into(),
        ));
    }
    let cutoff = before.div_euclid(bucket_ms) * bucket_ms;
    atomically(conn, "samples_downsample", || {
        conn.execute("DROP TABLE IF EXISTS temp.site_buckets", [])?;
        conn.execute(
            "CREATE TEMP TABLE site_buckets AS SELECT \
               at / ?2 AS bucket, (at / ?2) * ?2 AS bucket_at, sum(span_ms) AS span_ms, \
               sum(l1_a * span_ms) / sum(iif(l1_a IS NULL, NULL, span_ms)) AS l1_a, \
               sum(l2_a * span_ms) / sum(iif(l2_a IS NULL, NULL, span_ms)) AS l2_a, \
               sum(l3_a * span_ms) / sum(iif(l3_a IS NULL, NULL, span_ms)) AS l3_a, \
               sum(power_w * span_ms) / sum(iif(power_w IS NULL, NULL, span_ms)) AS power_w, \
               sum(deferred_w * span_ms) / sum(iif(deferred_w IS NULL, NULL, span_ms)) \
                 AS deferred_w, \
               min(limit_l1_a) AS limit_l1_a, min(limit_l2_a) AS limit_l2_a, \
               min(limit_l3_a) AS limit_l3_a, max(curtailed) AS curtailed, \
               count(*) AS merged \
             FROM site_samples WHERE at >= 0 AND at < ?1 AND span_ms < ?2 \
             GROUP BY at / ?2 HAVING count(*) > 1",
            params![cutoff, bucket_ms],
        )?;
        let (merged, buckets): (i64, i64) = conn.query_row(
            "SELECT coalesce(sum(merged), 0), count(*) FROM temp.site_buckets",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        conn.execute(
            "DELETE FROM site_samples WHERE at >= 0 AND at < ?1 AND span_ms < ?2 \
             AND at / ?2 IN (SELECT bucket FROM temp.site_buckets)",
            params![cutoff, bucket_ms],
        )?;
        conn.execute(
            "INSERT INTO site_samples (at, span_ms, l1_a, l2_a, l3_a, power_w, \
             limit_l1_a, limit_l2_a, limit_l3_a, curtailed, deferred_w) \
             SELECT bucket_at, span_ms, l1_a, l2_a, l3_a, power_w, limit_l1_a, limit_l2_a, \
             limit_l3_a, curtailed, deferred_w FROM temp.site_buckets ORDER BY bucket_at",
            [],
        )?;
        conn.execute("DROP TABLE temp.site_buckets", [])?;
        Ok(super::nonneg(merged - buckets))
    })
}
