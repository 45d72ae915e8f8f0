//! SETTINGS frames (RFC 9113 §6.5) and their parameters, including RFC 8441's
//! SETTINGS_ENABLE_CONNECT_PROTOCOL and RFC 9218's SETTINGS_NO_RFC7540_PRIORITIES.

use bytes::{BufMut, BytesMut};

use super::{
    ErrorKind, FrameError, FrameHeader, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, MIN_MAX_FRAME_SIZE, Reason,
    StreamId, flags, kind, payload_len, read_u32,
};

/// Length of one parameter on the wire: a 16-bit identifier and a 32-bit value.
const PARAMETER_LEN: usize = 6;

/// The parameters carried by one SETTINGS frame; `None` for those it does not mention.
///
/// On receipt, apply each present value to the connection in the order the RFC describes,
/// then send a SETTINGS ACK (RFC 9113 §6.5.3). Values have already been checked against their
/// ranges; parameters with unknown identifiers were ignored (§6.5.2). A parameter repeated in
/// one frame keeps its last value, as if the frame were processed in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the most HPACK table the sender's decoder allows.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0x2): whether the client accepts server push.
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3): how many streams the sender lets the peer open.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4): initial stream send window, at most
    /// [`MAX_WINDOW_SIZE`]. Changing it adjusts every open stream's window (§6.9.2).
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (0x5): the largest payload the sender accepts, within
    /// [`MIN_MAX_FRAME_SIZE`]..=[`MAX_MAX_FRAME_SIZE`].
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory limit on the header lists the sender
    /// accepts.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441): the sender accepts extended CONNECT
    /// (`:protocol`, e.g. WebSockets over HTTP/2).
    pub enable_connect_protocol: Option<bool>,
    /// SETTINGS_NO_RFC7540_PRIORITIES (0x9, RFC 9218): the sender does not use RFC 7540
    /// priorities; PRIORITY frames and fields can be ignored.
    pub no_rfc7540_priorities: Option<bool>,
}

impl Settings {
    /// Identifier of SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// Identifier of SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// Identifier of SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// Identifier of SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// Identifier of SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// Identifier of SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// Identifier of SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
    /// Identifier of SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218).
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;

    /// Whether no parameter is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.parameters().all(|(_, value)| value.is_none())
    }

    /// Every known parameter as `(identifier, wire value)`, in identifier order.
    fn parameters(&self) -> impl Iterator<Item = (u16, Option<u32>)> + Clone + use<> {
        [
            (Self::HEADER_TABLE_SIZE, self.header_table_size),
            (Self::ENABLE_PUSH, self.enable_push.map(u32::from)),
            (Self::MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (Self::INITIAL_WINDOW_SIZE, self.initial_window_size),
            (Self::MAX_FRAME_SIZE, self.max_frame_size),
            (Self::MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (Self::ENABLE_CONNECT_PROTOCOL, self.enable_connect_protocol.map(u32::from)),
            (Self::NO_RFC7540_PRIORITIES, self.no_rfc7540_priorities.map(u32::from)),
        ]
        .into_iter()
    }

    /// Checks one parameter's value and stores it; unknown identifiers are ignored.
    fn set(&mut self, id: u16, value: u32) -> Result<(), FrameError> {
        let invalid = |reason| Err(FrameError::connection(reason, ErrorKind::InvalidSetting { id, value }));
        let flag = |value| match value {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        match id {
            Self::HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            Self::ENABLE_PUSH => match flag(value) {
                Some(enabled) => self.enable_push = Some(enabled),
                None => return invalid(Reason::PROTOCOL_ERROR),
            },
            Self::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            Self::INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => {
                return invalid(Reason::FLOW_CONTROL_ERROR);
            }
            Self::INITIAL_WINDOW_SIZE => self.initial_window_size = Some(value),
            Self::MAX_FRAME_SIZE if !(MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                return invalid(Reason::PROTOCOL_ERROR);
            }
            Self::MAX_FRAME_SIZE => self.max_frame_size = Some(value),
            Self::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            Self::ENABLE_CONNECT_PROTOCOL => match flag(value) {
                Some(enabled) => self.enable_connect_protocol = Some(enabled),
                None => return invalid(Reason::PROTOCOL_ERROR),
            },
            Self::NO_RFC7540_PRIORITIES => match flag(value) {
                Some(enabled) => self.no_rfc7540_priorities = Some(enabled),
                None => return invalid(Reason::PROTOCOL_ERROR),
            },
            _ => {}
        }
        Ok(())
    }
}

/// A SETTINGS frame: either the sender's parameters, or an acknowledgment (ACK) that it
/// applied ours.
///
/// On receipt of parameters, apply them and send [`SettingsFrame::ack`]; on receipt of an
/// ACK, the parameters we sent first are now in force (e.g. a smaller HPACK table size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SettingsFrame {
    ack: bool,
    settings: Settings,
}

impl SettingsFrame {
    /// A SETTINGS frame carrying `settings` (an empty one is valid, e.g. for a preface).
    #[must_use]
    pub const fn new(settings: Settings) -> SettingsFrame {
        SettingsFrame { ack: false, settings }
    }

    /// A SETTINGS ACK (no parameters).
    #[must_use]
    pub fn ack() -> SettingsFrame {
        SettingsFrame { ack: true, settings: Settings::default() }
    }

    /// Whether this acknowledges the peer's SETTINGS.
    #[must_use]
    pub const fn is_ack(&self) -> bool {
        self.ack
    }

    /// The parameters (all `None` for an ACK).
    #[must_use]
    pub const fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Appends the whole frame (on stream 0), parameters in identifier order.
    pub fn encode(&self, dst: &mut BytesMut) {
        let present = self.settings.parameters().filter_map(|(id, value)| Some((id, value?)));
        let len = present.clone().count() * PARAMETER_LEN;
        let bits = if self.ack { flags::ACK } else { 0 };
        FrameHeader::new(kind::SETTINGS, bits, StreamId::ZERO, payload_len(len)).encode(dst);
        for (id, value) in present {
            debug_assert!(Settings::default().set(id, value).is_ok(), "invalid setting {id:#x} = {value}");
            dst.put_u16(id);
            dst.put_u32(value);
        }
    }

    /// Decodes the payload of a validated SETTINGS header. An ACK with a payload, or a length
    /// that is not a multiple of 6, is a connection error FRAME_SIZE_ERROR; an out-of-range
    /// value a connection error PROTOCOL_ERROR (FLOW_CONTROL_ERROR for the window size).
    pub(crate) fn decode(header: &FrameHeader, payload: &[u8]) -> Result<SettingsFrame, FrameError> {
        if header.has_flag(flags::ACK) {
            if !payload.is_empty() {
                return Err(FrameError::connection(
                    Reason::FRAME_SIZE_ERROR,
                    ErrorKind::SettingsAckWithPayload,
                ));
            }
            return Ok(SettingsFrame::ack());
        }
        if !payload.len().is_multiple_of(PARAMETER_LEN) {
            return Err(FrameError::invalid_length(payload.len()));
        }
        let mut settings = Settings::default();
        for parameter in payload.chunks_exact(PARAMETER_LEN) {
            settings.set(u16::from_be_bytes([parameter[0], parameter[1]]), read_u32(&parameter[2..]))?;
        }
        Ok(SettingsFrame::new(settings))
    }
}

impl From<SettingsFrame> for super::Frame {
    fn from(frame: SettingsFrame) -> super::Frame {
        super::Frame::Settings(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Frame;
    use super::super::test_util::*;
    use super::*;

    fn settings_of(payload: &[u8]) -> Result<Settings, FrameError> {
        match decode(&raw(kind::SETTINGS, 0, 0, payload))? {
            Frame::Settings(frame) => Ok(*frame.settings()),
            other => panic!("{other:?}"),
        }
    }

    fn param(id: u16, value: u32) -> Vec<u8> {
        [&id.to_be_bytes()[..], &value.to_be_bytes()].concat()
    }

    fn invalid(id: u16, value: u32) -> FrameError {
        settings_of(&param(id, value)).expect_err("should be refused")
    }

    #[test]
    fn round_trip_every_parameter() {
        let settings = Settings {
            header_table_size: Some(0),
            enable_push: Some(false),
            max_concurrent_streams: Some(100),
            initial_window_size: Some(MAX_WINDOW_SIZE),
            max_frame_size: Some(MAX_MAX_FRAME_SIZE),
            max_header_list_size: Some(16_384),
            enable_connect_protocol: Some(true),
            no_rfc7540_priorities: Some(true),
        };
        let wire = round_trip(SettingsFrame::new(settings));
        assert_eq!(wire.len(), 9 + 8 * 6);
        assert_eq!(&wire[9..15], [0, 1, 0, 0, 0, 0]);
        assert_eq!(&wire[wire.len() - 6..], [0, 9, 0, 0, 0, 1]);
    }

    #[test]
    fn round_trip_empty_and_ack() {
        assert_eq!(round_trip(SettingsFrame::default()), raw(kind::SETTINGS, 0, 0, b""));
        assert_eq!(round_trip(SettingsFrame::ack()), raw(kind::SETTINGS, flags::ACK, 0, b""));
        assert!(SettingsFrame::ack().is_ack() && SettingsFrame::ack().settings().is_empty());
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let payload = [param(0x7, 1), param(0xface, 0xffff_ffff), param(0x3, 10), param(0x0, 5)].concat();
        let settings = settings_of(&payload).unwrap();
        assert_eq!(settings, Settings { max_concurrent_streams: Some(10), ..Settings::default() });
    }

    #[test]
    fn repeated_id_keeps_the_last_value() {
        let settings = settings_of(&[param(0x4, 10), param(0x4, 20)].concat()).unwrap();
        assert_eq!(settings.initial_window_size, Some(20));
    }

    #[test]
    fn enable_push_other_than_0_or_1_is_a_protocol_error() {
        let err = invalid(Settings::ENABLE_PUSH, 2);
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(err.kind(), ErrorKind::InvalidSetting { id: 2, value: 2 });
    }

    #[test]
    fn initial_window_size_over_2_31_is_a_flow_control_error() {
        let err = invalid(Settings::INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE + 1);
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::FLOW_CONTROL_ERROR);
    }

    #[test]
    fn max_frame_size_out_of_range_is_a_protocol_error() {
        for value in [0, MIN_MAX_FRAME_SIZE - 1, MAX_MAX_FRAME_SIZE + 1, u32::MAX] {
            let err = invalid(Settings::MAX_FRAME_SIZE, value);
            assert!(err.is_connection_error());
            assert_eq!(err.reason(), Reason::PROTOCOL_ERROR, "value {value}");
        }
        let bounds = [param(0x5, MIN_MAX_FRAME_SIZE), param(0x5, MAX_MAX_FRAME_SIZE)];
        assert!(settings_of(&bounds[0]).is_ok() && settings_of(&bounds[1]).is_ok());
    }

    #[test]
    fn enable_connect_protocol_other_than_0_or_1_is_a_protocol_error() {
        let err = invalid(Settings::ENABLE_CONNECT_PROTOCOL, 2);
        assert!(err.is_connection_error());
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn no_rfc7540_priorities_other_than_0_or_1_is_a_protocol_error() {
        let err = invalid(Settings::NO_RFC7540_PRIORITIES, 7);
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn ack_with_payload_is_a_frame_size_error() {
        let err = error(&raw(kind::SETTINGS, flags::ACK, 0, &param(0x3, 1)));
        assert!(err.is_connection_error());
        assert_eq!((err.reason(), err.kind()), (Reason::FRAME_SIZE_ERROR, ErrorKind::SettingsAckWithPayload));
    }

    #[test]
    fn length_not_a_multiple_of_6_is_a_frame_size_error() {
        let err = settings_of(&[0, 3, 0, 0, 0, 1, 0]).unwrap_err();
        assert!(err.is_connection_error());
        assert_eq!(
            (err.reason(), err.kind()),
            (Reason::FRAME_SIZE_ERROR, ErrorKind::InvalidLength { length: 7 })
        );
    }

    #[test]
    fn unbounded_values_accept_anything() {
        let payload = [param(0x1, u32::MAX), param(0x3, 0), param(0x6, u32::MAX)].concat();
        let settings = settings_of(&payload).unwrap();
        assert_eq!(settings.header_table_size, Some(u32::MAX));
        assert_eq!(settings.max_concurrent_streams, Some(0));
        assert_eq!(settings.max_header_list_size, Some(u32::MAX));
    }
}
