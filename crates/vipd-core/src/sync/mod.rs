//! Connection sharing between directors: the pure half.
//!
//! When the VIP moves to another director, that director must forward every
//! established connection to the real server it already had, or the connections
//! break (a scheduler, even Maglev, maps some flows differently once the real
//! server set or the table differs). LVS solves this with its sync daemon:
//! the master multicasts new connection entries, backups install them. vipd
//! does the same, with three differences: every director sends and receives (no
//! master/backup roles to configure: whoever forwards a connection shares it), the
//! datagrams can be authenticated, and a starting director asks its peers for
//! their whole table before it takes traffic.
//!
//! # Layout
//! - [`wire`]: the datagram format (`Packet` view, `Datagram` / `Entry` meaning).
//! - [`auth`]: the HMAC-SHA256 key and tags.
//! - [`replay`]: sequence windows per sender and the clock bound.
//! - [`share`]: [`Share`], the sans-IO state machine: outgoing batching, incoming
//!   checks, counters.
//! - [`dump`]: [`DumpWait`], how long a starting director waits for the dumps.
//! - [`translate`]: data-plane ids <-> wire addresses, through a `Plan`.
//! - [`plan`]: where sharing runs (interface, peers, port, id) from the
//!   configuration.
//!
//! # Driving it
//! The IO shell (`vipd`) owns the UDP socket, the BPF ring buffer and the clocks:
//! - for each new connection from the ring buffer, [`Share::queue`]; then send
//!   every datagram [`Share::poll_transmit`] returns, and wake up again at
//!   [`Share::poll_timeout`];
//! - for each datagram received, [`Share::handle_datagram`]: install the entries
//!   of [`Incoming::Entries`], answer [`Incoming::DumpRequested`] by feeding the
//!   table through [`Share::queue_dump`] and ending with [`Share::dump_end`];
//! - at start, send [`Share::request_dump`] and follow a [`DumpWait`] before
//!   claiming VIPs.
//!
//! Time comes in two kinds, both from the caller: `now`, a monotonic
//! [`std::time::Duration`] since any fixed origin (batching, peers' last-heard
//! times), and `wall_s`, unix seconds (stamped on datagrams and compared with the
//! peer's stamp to bound replays).

pub mod auth;
pub mod dump;
pub mod plan;
pub mod replay;
pub mod share;
pub mod translate;
pub mod wire;

pub use auth::{Key, KeyError};
pub use dump::{DumpEndReason, DumpStatus, DumpWait};
pub use replay::{PeerStatus, ReplayError};
pub use share::{
    ConfigError, Counters, Discard, DropCounters, Incoming, QueueError, Share, ShareConfig,
};
pub use wire::{ConnState, Datagram, Entry, EntryError, Kind, WireError};
