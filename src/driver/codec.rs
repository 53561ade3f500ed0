//! Register codec (pure): Modbus registers (`&[u16]`) <-> typed values, with word order, scale,
//! units and "not available" sentinels.

use serde::{Deserialize, Serialize};

/// The data type of a value in the register map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// ASCII text, two characters per register, high byte first; NULs and trailing spaces trimmed.
    String,
}

impl DataType {
    /// Registers one value takes (strings: their configured count).
    pub fn width(self, string_registers: u16) -> u16 {
        match self {
            DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String => string_registers,
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, DataType::F32 | DataType::F64 | DataType::String)
    }
}

/// Order of the 16-bit words of a 32/64-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// Most significant word first (the Modbus convention).
    #[default]
    Big,
    /// Least significant word first ("word swapped").
    Little,
}

/// A unit as driver files spell it, and its factor to the canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    A,
    #[serde(rename = "mA")]
    MilliA,
    #[serde(rename = "dA")]
    DeciA,
    #[serde(rename = "cA")]
    CentiA,
    V,
    #[serde(rename = "dV")]
    DeciV,
    W,
    #[serde(rename = "kW")]
    KiloW,
    #[serde(rename = "Wh")]
    Wh,
    #[serde(rename = "kWh")]
    KiloWh,
    #[serde(rename = "Hz")]
    Hz,
    #[serde(rename = "s")]
    Second,
    #[serde(rename = "ms")]
    MilliSecond,
    #[serde(rename = "min")]
    Minute,
    #[serde(rename = "")]
    None,
}

/// The canonical units values are converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Current,
    Voltage,
    Power,
    Energy,
    Frequency,
    Time,
    Count,
}

impl Unit {
    /// The factor from this unit to the canonical one (A, V, W, Wh, Hz, s).
    pub fn factor(self) -> f64 {
        match self {
            Unit::A | Unit::V | Unit::W | Unit::Wh | Unit::Hz | Unit::Second | Unit::None => 1.0,
            Unit::MilliA | Unit::MilliSecond => 0.001,
            Unit::DeciA | Unit::DeciV => 0.1,
            Unit::CentiA => 0.01,
            Unit::KiloW | Unit::KiloWh => 1000.0,
            Unit::Minute => 60.0,
        }
    }

    pub fn quantity(self) -> Quantity {
        match self {
            Unit::A | Unit::MilliA | Unit::DeciA | Unit::CentiA => Quantity::Current,
            Unit::V | Unit::DeciV => Quantity::Voltage,
            Unit::W | Unit::KiloW => Quantity::Power,
            Unit::Wh | Unit::KiloWh => Quantity::Energy,
            Unit::Hz => Quantity::Frequency,
            Unit::Second | Unit::MilliSecond | Unit::Minute => Quantity::Time,
            Unit::None => Quantity::Count,
        }
    }
}

/// A decoded raw value before scaling.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Int(i128),
    Float(f64),
    Text(String),
}

fn words_to_u64(words: &[u16], order: WordOrder) -> u64 {
    let mut v: u64 = 0;
    let mut push = |w: u16| v = (v << 16) | u64::from(w);
    match order {
        WordOrder::Big => words.iter().copied().for_each(&mut push),
        WordOrder::Little => words.iter().rev().copied().for_each(&mut push),
    }
    v
}

fn u64_to_words(v: u64, n: usize, order: WordOrder) -> Vec<u16> {
    let mut out: Vec<u16> = (0..n).map(|i| (v >> (16 * (n - 1 - i))) as u16).collect();
    if order == WordOrder::Little {
        out.reverse();
    }
    out
}

/// Decodes one value from exactly its registers. `None` when `words` is too short.
pub fn decode_raw(words: &[u16], ty: DataType, order: WordOrder) -> Option<Raw> {
    let n = usize::from(ty.width(u16::try_from(words.len()).unwrap_or(u16::MAX)));
    if words.len() < n || n == 0 {
        return None;
    }
    let w = &words[..n];
    Some(match ty {
        DataType::U16 => Raw::Int(i128::from(w[0])),
        DataType::I16 => Raw::Int(i128::from(w[0] as i16)),
        DataType::U32 => Raw::Int(i128::from(words_to_u64(w, order) as u32)),
        DataType::I32 => Raw::Int(i128::from(words_to_u64(w, order) as u32 as i32)),
        DataType::U64 => Raw::Int(i128::from(words_to_u64(w, order))),
        DataType::I64 => Raw::Int(i128::from(words_to_u64(w, order) as i64)),
        DataType::F32 => Raw::Float(f64::from(f32::from_bits(words_to_u64(w, order) as u32))),
        DataType::F64 => Raw::Float(f64::from_bits(words_to_u64(w, order))),
        DataType::String => {
            let bytes: Vec<u8> = w.iter().flat_map(|r| r.to_be_bytes()).collect();
            let text: String = bytes
                .into_iter()
                .take_while(|b| *b != 0)
                .map(char::from)
                .collect();
            Raw::Text(text.trim_end().to_string())
        }
    })
}

/// Encodes a raw value into `width` registers. Integers out of the type's range saturate; text
/// is cut or padded with NULs.
pub fn encode_raw(raw: &Raw, ty: DataType, order: WordOrder, string_registers: u16) -> Vec<u16> {
    let as_int = |r: &Raw| -> i128 {
        match r {
            Raw::Int(i) => *i,
            Raw::Float(f) => f.round() as i128,
            Raw::Text(_) => 0,
        }
    };
    let as_float = |r: &Raw| -> f64 {
        match r {
            Raw::Int(i) => *i as f64,
            Raw::Float(f) => *f,
            Raw::Text(_) => f64::NAN,
        }
    };
    match ty {
        DataType::U16 => vec![as_int(raw).clamp(0, i128::from(u16::MAX)) as u16],
        DataType::I16 => {
            vec![as_int(raw).clamp(i128::from(i16::MIN), i128::from(i16::MAX)) as i16 as u16]
        }
        DataType::U32 => u64_to_words(as_int(raw).clamp(0, i128::from(u32::MAX)) as u64, 2, order),
        DataType::I32 => u64_to_words(
            as_int(raw).clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32 as u32 as u64,
            2,
            order,
        ),
        DataType::U64 => u64_to_words(as_int(raw).clamp(0, i128::from(u64::MAX)) as u64, 4, order),
        DataType::I64 => u64_to_words(
            as_int(raw).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64 as u64,
            4,
            order,
        ),
        DataType::F32 => u64_to_words(u64::from((as_float(raw) as f32).to_bits()), 2, order),
        DataType::F64 => u64_to_words(as_float(raw).to_bits(), 4, order),
        DataType::String => {
            let text = match raw {
                Raw::Text(t) => t.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            (0..usize::from(string_registers))
                .map(|i| {
                    let hi = text.get(2 * i).copied().unwrap_or(0);
                    let lo = text.get(2 * i + 1).copied().unwrap_or(0);
                    u16::from_be_bytes([hi, lo])
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn orders() -> impl Strategy<Value = WordOrder> {
        prop_oneof![Just(WordOrder::Big), Just(WordOrder::Little)]
    }

    proptest! {
        #[test]
        fn integers_round_trip(v in any::<i64>(), order in orders()) {
            for (ty, lo, hi) in [
                (DataType::U16, 0i128, i128::from(u16::MAX)),
                (DataType::I16, i128::from(i16::MIN), i128::from(i16::MAX)),
                (DataType::U32, 0, i128::from(u32::MAX)),
                (DataType::I32, i128::from(i32::MIN), i128::from(i32::MAX)),
                (DataType::U64, 0, i128::from(u64::MAX)),
                (DataType::I64, i128::from(i64::MIN), i128::from(i64::MAX)),
            ] {
                let x = i128::from(v).clamp(lo, hi);
                let words = encode_raw(&Raw::Int(x), ty, order, 0);
                prop_assert_eq!(words.len(), usize::from(ty.width(0)));
                prop_assert_eq!(decode_raw(&words, ty, order), Some(Raw::Int(x)));
            }
        }

        #[test]
        fn u64_full_range_round_trips(v in any::<u64>(), order in orders()) {
            let words = encode_raw(&Raw::Int(i128::from(v)), DataType::U64, order, 0);
            prop_assert_eq!(decode_raw(&words, DataType::U64, order), Some(Raw::Int(i128::from(v))));
        }

        #[test]
        fn floats_round_trip(v in any::<f32>(), w in any::<f64>(), order in orders()) {
            let words = encode_raw(&Raw::Float(f64::from(v)), DataType::F32, order, 0);
            match decode_raw(&words, DataType::F32, order) {
                Some(Raw::Float(back)) => prop_assert!(back.to_bits() == f64::from(v).to_bits() || (back.is_nan() && v.is_nan())),
                other => prop_assert!(false, "{other:?}"),
            }
            let words = encode_raw(&Raw::Float(w), DataType::F64, order, 0);
            match decode_raw(&words, DataType::F64, order) {
                Some(Raw::Float(back)) => prop_assert!(back.to_bits() == w.to_bits() || (back.is_nan() && w.is_nan())),
                other => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn strings_round_trip(s in "[A-Za-z0-9-]{0,20}") {
            let words = encode_raw(&Raw::Text(s.clone()), DataType::String, WordOrder::Big, 10);
            prop_assert_eq!(words.len(), 10);
            prop_assert_eq!(decode_raw(&words, DataType::String, WordOrder::Big), Some(Raw::Text(s)));
        }
    }

    #[test]
    fn word_order_is_what_vendors_mean() {
        // 0x0001_0002 high word first.
        assert_eq!(
            decode_raw(&[1, 2], DataType::U32, WordOrder::Big),
            Some(Raw::Int(0x0001_0002))
        );
        assert_eq!(
            decode_raw(&[2, 1], DataType::U32, WordOrder::Little),
            Some(Raw::Int(0x0001_0002))
        );
        // 230.0 as f32 = 0x4366_0000.
        assert_eq!(
            decode_raw(&[0x4366, 0], DataType::F32, WordOrder::Big),
            Some(Raw::Float(230.0))
        );
        assert_eq!(
            decode_raw(&[0xFFFF], DataType::I16, WordOrder::Big),
            Some(Raw::Int(-1))
        );
        assert_eq!(decode_raw(&[1], DataType::U32, WordOrder::Big), None);
    }
}
