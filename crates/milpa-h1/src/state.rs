//! Every state transition of an HTTP/1.1 connection, in one role-blind table.
//!
//! Modelled on h11's `_state.py`: each side of the connection (the client that
//! sends requests, the server that sends responses) has its own [`State`], and an
//! [`EventType`] sent by one side moves that side along [`transition`]. A few
//! events also move the *other* side (a request puts the server into
//! `SendResponse`), and a few transitions are triggered by state alone (keep-alive
//! turned off moves a finished side to `MustClose`). Everything else in the crate
//! asks this module whether a move is legal instead of keeping its own flags.

/// Which side of the connection an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// Where one side of the connection stands in the request/response cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Waiting for the next message to start.
    Idle,
    /// Server only: a request arrived; informational responses or the final response may follow.
    SendResponse,
    /// The head went out (or came in); body data and the end of the message follow.
    SendBody,
    /// This side finished its message; it waits for the other side.
    Done,
    /// This side finished, and the connection will not be reused.
    MustClose,
    /// This side's half of the connection is closed.
    Closed,
    /// Client only: it finished a request that proposed a protocol switch and waits for the answer.
    MightSwitchProtocol,
    /// The connection now carries another protocol; HTTP/1.1 is over.
    SwitchedProtocol,
    /// This side broke the protocol; the connection can only be closed.
    Error,
}

/// What happened on one side, as far as the state table cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Request,
    InformationalResponse,
    Response,
    Data,
    EndOfMessage,
    ConnectionClosed,
    /// Server only: a 101 answering an `Upgrade` proposal.
    AcceptUpgrade,
    /// Server only: a 2xx answering `CONNECT`.
    AcceptConnect,
}

/// The protocol switch a request proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    Upgrade,
    Connect,
}

/// The transition table: the state a side moves to when it sends `event`,
/// or `None` when that event is illegal there.
fn transition(role: Role, state: State, event: EventType) -> Option<State> {
    use EventType as E;
    use State as S;
    let next = match (role, state, event) {
        (_, S::Idle | S::Done | S::MustClose | S::Closed, E::ConnectionClosed) => S::Closed,
        (Role::Client, S::Idle, E::Request) => S::SendBody,
        (Role::Server, S::Idle, E::Response) => S::SendBody,
        (Role::Server, S::SendResponse, E::InformationalResponse) => S::SendResponse,
        (Role::Server, S::SendResponse, E::Response) => S::SendBody,
        (Role::Server, S::SendResponse, E::AcceptUpgrade | E::AcceptConnect) => S::SwitchedProtocol,
        (_, S::SendBody, E::Data) => S::SendBody,
        (_, S::SendBody, E::EndOfMessage) => S::Done,
        _ => return None,
    };
    Some(next)
}

/// Both sides' states plus the two facts that drive state-triggered moves.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionState {
    client: State,
    server: State,
    keep_alive: bool,
    proposed_switch: Option<Switch>,
}

impl ConnectionState {
    pub(crate) fn new() -> Self {
        Self { client: State::Idle, server: State::Idle, keep_alive: true, proposed_switch: None }
    }

    pub(crate) fn client(&self) -> State {
        self.client
    }

    pub(crate) fn server(&self) -> State {
        self.server
    }

    pub(crate) fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    pub(crate) fn proposed_switch(&self) -> Option<Switch> {
        self.proposed_switch
    }

    fn get_mut(&mut self, role: Role) -> &mut State {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    /// Whether `role` may send `event` now; checking changes nothing.
    pub(crate) fn allows(&self, role: Role, event: EventType) -> bool {
        self.next(role, event).is_some()
    }

    /// The state `role` moves to by sending `event`, if it may send it now.
    fn next(&self, role: Role, event: EventType) -> Option<State> {
        let state = match role {
            Role::Client => self.client,
            Role::Server => self.server,
        };
        // A switch is accepted only once the request (and its body) is complete:
        // body bytes must never be handed to the next protocol.
        let switching = match event {
            EventType::AcceptUpgrade => Some(Switch::Upgrade),
            EventType::AcceptConnect => Some(Switch::Connect),
            _ => None,
        };
        if let Some(switch) = switching
            && (self.proposed_switch != Some(switch) || self.client != State::MightSwitchProtocol)
        {
            return None;
        }
        transition(role, state, event)
    }

    /// Applies `event` sent by `role`; returns `Err` and changes nothing if it is illegal.
    pub(crate) fn process(&mut self, role: Role, event: EventType) -> Result<(), State> {
        let Some(next) = self.next(role, event) else {
            return Err(*self.get_mut(role));
        };
        *self.get_mut(role) = next;
        // Event-triggered moves of the other side.
        match (role, event) {
            (Role::Client, EventType::Request) if self.server == State::Idle => {
                self.server = State::SendResponse;
            }
            (Role::Server, EventType::AcceptUpgrade | EventType::AcceptConnect) => {
                self.client = State::SwitchedProtocol;
            }
            // A final response that is not a switch denies any proposal.
            (Role::Server, EventType::Response) => self.proposed_switch = None,
            _ => {}
        }
        self.fire_state_triggered();
        Ok(())
    }

    /// The peer (or we) broke the protocol: that side goes to `Error` for good.
    pub(crate) fn process_error(&mut self, role: Role) {
        *self.get_mut(role) = State::Error;
        self.keep_alive = false;
        self.fire_state_triggered();
    }

    /// The connection will not be reused after the current cycle.
    pub(crate) fn disable_keep_alive(&mut self) {
        self.keep_alive = false;
        self.fire_state_triggered();
    }

    /// The request being read proposed switching protocols.
    pub(crate) fn propose_switch(&mut self, switch: Switch) {
        self.proposed_switch = Some(switch);
        self.fire_state_triggered();
    }

    /// Both sides are `Done` and keep-alive holds: start the next request/response cycle.
    pub(crate) fn start_next_cycle(&mut self) -> bool {
        if self.client == State::Done && self.server == State::Done && self.keep_alive {
            self.client = State::Idle;
            self.server = State::Idle;
            self.proposed_switch = None;
            true
        } else {
            false
        }
    }

    fn fire_state_triggered(&mut self) {
        if self.client == State::Done && self.proposed_switch.is_some() {
            self.client = State::MightSwitchProtocol;
        }
        if self.client == State::MightSwitchProtocol && self.proposed_switch.is_none() {
            self.client = State::Done;
        }
        if !self.keep_alive {
            for side in [&mut self.client, &mut self.server] {
                if *side == State::Done {
                    *side = State::MustClose;
                }
            }
        }
        // One side closing or failing means the other cannot start another cycle.
        let client_gone = matches!(self.client, State::Closed | State::Error);
        let server_gone = matches!(self.server, State::Closed | State::Error);
        if (client_gone || server_gone) && self.keep_alive {
            self.keep_alive = false;
            self.fire_state_triggered();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_cycle_with_keep_alive() {
        let mut s = ConnectionState::new();
        s.process(Role::Client, EventType::Request).unwrap();
        assert_eq!(s.server(), State::SendResponse);
        s.process(Role::Client, EventType::EndOfMessage).unwrap();
        s.process(Role::Server, EventType::InformationalResponse).unwrap();
        s.process(Role::Server, EventType::Response).unwrap();
        s.process(Role::Server, EventType::Data).unwrap();
        s.process(Role::Server, EventType::EndOfMessage).unwrap();
        assert!(s.start_next_cycle());
        assert_eq!((s.client(), s.server()), (State::Idle, State::Idle));
    }

    #[test]
    fn illegal_event_changes_nothing() {
        let mut s = ConnectionState::new();
        assert!(s.process(Role::Server, EventType::Data).is_err());
        assert!(s.process(Role::Client, EventType::Response).is_err());
        assert_eq!((s.client(), s.server()), (State::Idle, State::Idle));
    }

    #[test]
    fn keep_alive_off_moves_done_to_must_close() {
        let mut s = ConnectionState::new();
        s.process(Role::Client, EventType::Request).unwrap();
        s.process(Role::Client, EventType::EndOfMessage).unwrap();
        s.disable_keep_alive();
        assert_eq!(s.client(), State::MustClose);
        s.process(Role::Server, EventType::Response).unwrap();
        s.process(Role::Server, EventType::EndOfMessage).unwrap();
        assert_eq!(s.server(), State::MustClose);
        assert!(!s.start_next_cycle());
    }

    #[test]
    fn upgrade_proposal_accepted_and_denied() {
        let mut s = ConnectionState::new();
        s.process(Role::Client, EventType::Request).unwrap();
        s.propose_switch(Switch::Upgrade);
        s.process(Role::Client, EventType::EndOfMessage).unwrap();
        assert_eq!(s.client(), State::MightSwitchProtocol);
        assert!(!s.allows(Role::Server, EventType::AcceptConnect));
        s.process(Role::Server, EventType::AcceptUpgrade).unwrap();
        assert_eq!((s.client(), s.server()), (State::SwitchedProtocol, State::SwitchedProtocol));

        let mut s = ConnectionState::new();
        s.process(Role::Client, EventType::Request).unwrap();
        s.propose_switch(Switch::Upgrade);
        s.process(Role::Client, EventType::EndOfMessage).unwrap();
        s.process(Role::Server, EventType::Response).unwrap();
        assert_eq!(s.client(), State::Done);
    }

    #[test]
    fn peer_error_ends_keep_alive() {
        let mut s = ConnectionState::new();
        s.process_error(Role::Client);
        assert!(!s.keep_alive());
        s.process(Role::Server, EventType::Response).unwrap();
        s.process(Role::Server, EventType::EndOfMessage).unwrap();
        assert_eq!(s.server(), State::MustClose);
    }
}
