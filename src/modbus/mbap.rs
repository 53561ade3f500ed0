//! Modbus TCP framing (MBAP header + PDU) as plain functions over bytes. No I/O here.
//!
//! Every request carries a transaction id; a reply is matched to the outstanding request by it.
//! A reply with another id is a late answer to an earlier request (one that timed out): it is
//! dropped, never taken as the answer to the current one, and never blamed on the current unit.

use super::error::ModbusException;
use super::ops::{Operation, RegisterKind};
use tokio_modbus::Response;

/// Bytes of the MBAP header: transaction id, protocol id, length, unit id.
pub(crate) const HEADER_LEN: usize = 7;
/// Largest PDU the Modbus application protocol allows.
const MAX_PDU_LEN: usize = 253;

/// One complete frame taken off the front of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub transaction: u16,
    pub unit: u8,
    pub pdu: Vec<u8>,
    /// Bytes the frame occupied on the wire (header included).
    pub wire_len: usize,
}

/// The stream is out of step: what follows cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Garbage(pub String);

/// What a reply PDU says, once its function code is the request's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Response(Response),
    Exception(ModbusException),
}

/// The request ADU for `op` to `unit` with `transaction` as its id.
pub(crate) fn encode_request(transaction: u16, unit: u8, op: &Operation) -> Vec<u8> {
    let mut pdu = vec![op.function_code()];
    match op {
        Operation::Read { address, count, .. } => {
            pdu.extend_from_slice(&address.to_be_bytes());
            pdu.extend_from_slice(&count.to_be_bytes());
        }
        Operation::WriteSingle { address, value } => {
            pdu.extend_from_slice(&address.to_be_bytes());
            pdu.extend_from_slice(&value.to_be_bytes());
        }
        Operation::WriteMultiple { address, values } => {
            // validate() keeps values.len() within 1..=123, so both fit.
            let count = u16::try_from(values.len()).unwrap_or(u16::MAX);
            pdu.extend_from_slice(&address.to_be_bytes());
            pdu.extend_from_slice(&count.to_be_bytes());
            pdu.push(u8::try_from(values.len() * 2).unwrap_or(u8::MAX));
            for v in values {
                pdu.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    let length = u16::try_from(pdu.len() + 1).unwrap_or(u16::MAX);
    let mut adu = Vec::with_capacity(HEADER_LEN + pdu.len());
    adu.extend_from_slice(&transaction.to_be_bytes());
    adu.extend_from_slice(&[0, 0]);
    adu.extend_from_slice(&length.to_be_bytes());
    adu.push(unit);
    adu.extend_from_slice(&pdu);
    adu
}

/// Takes one complete frame off the front of `buf`. `Ok(None)`: not all of it has arrived yet.
pub(crate) fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, Garbage> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let transaction = u16::from_be_bytes([buf[0], buf[1]]);
    let protocol = u16::from_be_bytes([buf[2], buf[3]]);
    let length = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if protocol != 0 {
        return Err(Garbage(format!(
            "MBAP protocol id {protocol} is not Modbus (0)"
        )));
    }
    if !(2..=MAX_PDU_LEN + 1).contains(&length) {
        return Err(Garbage(format!("MBAP length {length} is outside 2..=254")));
    }
    let wire_len = HEADER_LEN - 1 + length;
    if buf.len() < wire_len {
        return Ok(None);
    }
    let unit = buf[6];
    let pdu = buf[HEADER_LEN..wire_len].to_vec();
    buf.drain(..wire_len);
    Ok(Some(Frame {
        transaction,
        unit,
        pdu,
        wire_len,
    }))
}

/// Decodes a reply PDU to `op`. `Err`: the PDU is not a well-formed reply to that function.
pub(crate) fn decode_reply(op: &Operation, pdu: &[u8]) -> Result<Answer, String> {
    let fc = op.function_code();
    let (&got, body) = pdu.split_first().ok_or("empty PDU")?;
    if got == fc | 0x80 {
        let &[code] = body else {
            return Err(format!("exception reply of {} bytes", pdu.len()));
        };
        return Ok(Answer::Exception(ModbusException::from_code(code)));
    }
    if got != fc {
        return Err(format!("reply has function code {got}, request {fc}"));
    }
    let word = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
    let response = match op {
        Operation::Read { kind, .. } => {
            let (&n, data) = body.split_first().ok_or("read reply without byte count")?;
            if usize::from(n) != data.len() || n % 2 != 0 {
                return Err(format!(
                    "read reply announces {n} bytes, carries {}",
                    data.len()
                ));
            }
            let words = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            match kind {
                RegisterKind::Holding => Response::ReadHoldingRegisters(words),
                RegisterKind::Input => Response::ReadInputRegisters(words),
            }
        }
        Operation::WriteSingle { .. } | Operation::WriteMultiple { .. } => {
            if body.len() != 4 {
                return Err(format!("write reply of {} bytes", pdu.len()));
            }
            if matches!(op, Operation::WriteSingle { .. }) {
                Response::WriteSingleRegister(word(0), word(2))
            } else {
                Response::WriteMultipleRegisters(word(0), word(2))
            }
        }
    };
    Ok(Answer::Response(response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply_frame(transaction: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut f = transaction.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
        f.push(unit);
        f.extend_from_slice(pdu);
        f
    }

    #[test]
    fn a_read_request_is_framed_with_its_transaction_id() {
        let op = Operation::Read {
            kind: RegisterKind::Input,
            address: 0x0006,
            count: 2,
        };
        assert_eq!(
            encode_request(0x0102, 7, &op),
            [1, 2, 0, 0, 0, 6, 7, 4, 0, 6, 0, 2]
        );
        let wm = Operation::WriteMultiple {
            address: 0x4100,
            values: vec![0, 16_000],
        };
        assert_eq!(
            encode_request(9, 3, &wm),
            [
                0, 9, 0, 0, 0, 11, 3, 0x10, 0x41, 0, 0, 2, 4, 0, 0, 0x3E, 0x80
            ]
        );
    }

    #[test]
    fn frames_come_off_the_buffer_one_by_one_and_partial_ones_wait() {
        let mut buf = reply_frame(1, 5, &[3, 2, 0, 42]);
        buf.extend(reply_frame(2, 6, &[3, 2, 0, 43]));
        let tail = buf.split_off(buf.len() - 3);
        let first = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!((first.transaction, first.unit), (1, 5));
        assert_eq!(first.pdu, [3, 2, 0, 42]);
        assert_eq!(first.wire_len, 11);
        assert_eq!(take_frame(&mut buf), Ok(None));
        buf.extend(tail);
        let second = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!(second.transaction, 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_foreign_protocol_or_length_is_garbage() {
        let mut buf = vec![0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1];
        assert!(take_frame(&mut buf).is_err());
        let mut buf = vec![0, 1, 0, 0, 1, 0, 1];
        assert!(take_frame(&mut buf).is_err());
    }

    #[test]
    fn replies_decode_and_mismatches_are_refused() {
        let op = Operation::Read {
            kind: RegisterKind::Holding,
            address: 0,
            count: 2,
        };
        assert_eq!(
            decode_reply(&op, &[3, 4, 0, 1, 0, 2]),
            Ok(Answer::Response(Response::ReadHoldingRegisters(vec![1, 2])))
        );
        assert_eq!(
            decode_reply(&op, &[0x83, 2]),
            Ok(Answer::Exception(ModbusException::IllegalDataAddress))
        );
        assert!(decode_reply(&op, &[4, 4, 0, 1, 0, 2]).is_err());
        assert!(decode_reply(&op, &[3, 5, 0, 1, 0, 2]).is_err());
        assert!(decode_reply(&op, &[]).is_err());
        let ws = Operation::WriteSingle {
            address: 7,
            value: 42,
        };
        assert_eq!(
            decode_reply(&ws, &[6, 0, 7, 0, 42]),
            Ok(Answer::Response(Response::WriteSingleRegister(7, 42)))
        );
    }

    proptest! {
        #[test]
        fn any_split_of_a_frame_stream_yields_the_same_frames(
            ids in proptest::collection::vec(any::<u16>(), 1..6),
            cut in 0usize..200,
        ) {
            let mut wire = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                wire.extend(reply_frame(*id, i as u8, &[3, 2, 0, i as u8]));
            }
            let cut = cut.min(wire.len());
            let mut buf = wire[..cut].to_vec();
            let mut got = Vec::new();
            while let Some(f) = take_frame(&mut buf).unwrap() { got.push(f.transaction); }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(f) = take_frame(&mut buf).unwrap() { got.push(f.transaction); }
            prop_assert_eq!(got, ids);
            prop_assert!(buf.is_empty());
        }
    }
}
