//! CALLERROR codes of OCPP-J 1.6 (section 4.2.3) and the answer to an invalid CALL.

use std::fmt;

/// An OCPP-J 1.6 error code.
///
/// The 1.6 wire spelling `OccurenceConstraintViolation` is kept (the errata list the typo as
/// "will not be fixed"); both spellings, and 2.0's `FormatViolation`, are understood on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Requested Action is not known by receiver.
    NotImplemented,
    /// Requested Action is recognized but not supported by the receiver.
    NotSupported,
    /// The receiver was not able to process the requested Action successfully.
    InternalError,
    /// Payload for Action is incomplete.
    ProtocolError,
    /// A security issue prevented the receiver from completing the Action.
    SecurityError,
    /// Payload for Action is syntactically incorrect or not conform the PDU structure.
    FormationViolation,
    /// Payload is syntactically correct but at least one field contains an invalid value.
    PropertyConstraintViolation,
    /// Payload is syntactically correct but at least one field violates occurrence constraints.
    OccurrenceConstraintViolation,
    /// Payload is syntactically correct but at least one field violates data type constraints.
    TypeConstraintViolation,
    /// Any other error.
    GenericError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::FormationViolation => "FormationViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::OccurrenceConstraintViolation => "OccurenceConstraintViolation",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
            ErrorCode::GenericError => "GenericError",
        }
    }

    /// The code named on the wire; unknown names read as `GenericError`.
    pub fn from_wire(s: &str) -> ErrorCode {
        match s {
            "NotImplemented" => ErrorCode::NotImplemented,
            "NotSupported" => ErrorCode::NotSupported,
            "InternalError" => ErrorCode::InternalError,
            "ProtocolError" => ErrorCode::ProtocolError,
            "SecurityError" => ErrorCode::SecurityError,
            "FormationViolation" | "FormatViolation" => ErrorCode::FormationViolation,
            "PropertyConstraintViolation" => ErrorCode::PropertyConstraintViolation,
            "OccurenceConstraintViolation" | "OccurrenceConstraintViolation" => {
                ErrorCode::OccurrenceConstraintViolation
            }
            "TypeConstraintViolation" => ErrorCode::TypeConstraintViolation,
            _ => ErrorCode::GenericError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an incoming CALL is refused: the code and a description for the CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct CallFault {
    pub code: ErrorCode,
    pub description: String,
}

impl CallFault {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        CallFault {
            code,
            description: description.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for code in [
            ErrorCode::NotImplemented,
            ErrorCode::NotSupported,
            ErrorCode::InternalError,
            ErrorCode::ProtocolError,
            ErrorCode::SecurityError,
            ErrorCode::FormationViolation,
            ErrorCode::PropertyConstraintViolation,
            ErrorCode::OccurrenceConstraintViolation,
            ErrorCode::TypeConstraintViolation,
            ErrorCode::GenericError,
        ] {
            assert_eq!(ErrorCode::from_wire(code.as_str()), code);
        }
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::from_wire("FormatViolation"),
            ErrorCode::FormationViolation
        );
        assert_eq!(ErrorCode::from_wire("Bogus"), ErrorCode::GenericError);
    }
}
