//! The read planner (pure): a device's values merged into as few requests as the device allows.

use super::model::Driver;
use crate::modbus::RegisterKind;

/// One read request of a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadBlock {
    pub kind: RegisterKind,
    pub address: u16,
    pub count: u16,
}

/// Plans the reads of a driver.
pub fn plan_reads(driver: &Driver) -> Vec<ReadBlock> {
    let m = &driver.file.modbus;
    let spans: Vec<(RegisterKind, u16, u16)> = driver
        .file
        .values
        .values()
        .map(|v| {
            (
                driver.value_kind(v),
                v.address,
                v.ty.width(v.registers.unwrap_or(0)),
            )
        })
        .collect();
    plan(
        &spans,
        m.max_registers.min(125),
        m.merge_gap,
        m.merge_across_values,
    )
}

/// Merges value spans `(kind, address, width)` into blocks: values of one kind whose gap is at
/// most `gap` registers share a block as long as it stays within `max` registers; with
/// `across = false` every value is its own block. Overlapping or repeated values are read once.
pub fn plan(
    spans: &[(RegisterKind, u16, u16)],
    max: u16,
    gap: u16,
    across: bool,
) -> Vec<ReadBlock> {
    let mut sorted: Vec<(u8, u16, u16)> = spans
        .iter()
        .filter(|(_, _, w)| *w > 0)
        .map(|(k, a, w)| (kind_order(*k), *a, *w))
        .collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<ReadBlock> = Vec::new();
    let max = max.max(1);
    for (k, address, width) in sorted {
        let kind = if k == 0 {
            RegisterKind::Holding
        } else {
            RegisterKind::Input
        };
        let end = u32::from(address) + u32::from(width);
        if let Some(last) = out.last_mut() {
            let last_end = u32::from(last.address) + u32::from(last.count);
            let same_kind = last.kind == kind;
            // A value inside (or overlapping) the last block only needs it extended.
            let overlaps = u32::from(address) < last_end;
            let close = u32::from(address) <= last_end + u32::from(gap);
            let fits = end.max(last_end) - u32::from(last.address) <= u32::from(max);
            if same_kind && fits && (overlaps || (across && close)) {
                last.count = (end.max(last_end) - u32::from(last.address)) as u16;
                continue;
            }
        }
        out.push(ReadBlock {
            kind,
            address,
            count: width.min(max),
        });
    }
    out
}

fn kind_order(k: RegisterKind) -> u8 {
    match k {
        RegisterKind::Holding => 0,
        RegisterKind::Input => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds() -> impl Strategy<Value = RegisterKind> {
        prop_oneof![Just(RegisterKind::Holding), Just(RegisterKind::Input)]
    }

    #[test]
    fn contiguous_values_are_one_read() {
        let spans: Vec<_> = (0..10).map(|i| (RegisterKind::Input, i * 2, 2)).collect();
        assert_eq!(
            plan(&spans, 125, 16, true),
            vec![ReadBlock {
                kind: RegisterKind::Input,
                address: 0,
                count: 20
            }]
        );
        assert_eq!(plan(&spans, 125, 16, false).len(), 10);
        assert_eq!(plan(&spans, 6, 16, true).len(), 4);
    }

    proptest! {
        #[test]
        fn every_value_is_read_exactly_once_within_limits(
            steps in prop::collection::vec((kinds(), 0u16..40, 1u16..5), 1..40),
            max in 4u16..=125,
            gap in 0u16..32,
            across in any::<bool>(),
        ) {
            // Values as driver files have them: never overlapping (the loader refuses that).
            let mut next = [0u16; 2];
            let spans: Vec<(RegisterKind, u16, u16)> = steps
                .iter()
                .map(|(k, skip, w)| {
                    let slot = &mut next[usize::from(kind_order(*k))];
                    let a = *slot + skip;
                    *slot = a + w;
                    (*k, a, *w)
                })
                .collect();
            let blocks = plan(&spans, max, gap, across);
            for b in &blocks {
                prop_assert!(b.count >= 1 && b.count <= max && b.count <= 125);
            }
            // Blocks never overlap: no register is read twice in a cycle.
            for (i, a) in blocks.iter().enumerate() {
                for b in &blocks[i + 1..] {
                    let disjoint = a.kind != b.kind
                        || u32::from(a.address) + u32::from(a.count) <= u32::from(b.address)
                        || u32::from(b.address) + u32::from(b.count) <= u32::from(a.address);
                    prop_assert!(disjoint, "{a:?} overlaps {b:?}");
                }
            }
            // Each value lies wholly inside one block (values wider than max are cut, not here).
            for (k, a, w) in &spans {
                let inside = blocks.iter().filter(|b| {
                    b.kind == *k
                        && b.address <= *a
                        && u32::from(*a) + u32::from(*w) <= u32::from(b.address) + u32::from(b.count)
                }).count();
                prop_assert_eq!(inside, 1, "value {:?}@{} x{} in {:?}", k, a, w, blocks);
            }
            if !across {
                // Distinct non-overlapping values are never merged.
                let mut distinct: Vec<_> = spans.clone();
                distinct.sort_by_key(|(k, a, w)| (kind_order(*k), *a, *w));
                distinct.dedup();
                prop_assert!(blocks.len() <= distinct.len());
            }
        }
    }
}
