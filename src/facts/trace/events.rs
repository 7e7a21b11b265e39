//! The tracepoint records, decoded with the layout tracefs `format` gives.

use super::*;

/// The decoded tracepoint records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StateChange {
        old: i64,
        new: i64,
        sport: u16,
        dest: DestTuple,
    },
    SyscallExit {
        syscall: Syscall,
        ret: i64,
    },
    Exit {
        comm: String,
        group_dead: bool,
    },
}

pub(super) struct StateFields {
    oldstate: Field,
    newstate: Field,
    sport: Field,
    dport: Field,
    family: Field,
    protocol: Option<Field>,
    saddr: Field,
    daddr: Field,
    saddr_v6: Field,
    daddr_v6: Field,
}

pub(super) enum Decoder {
    State(StateFields),
    Exit(Syscall, Field),
    ProcessExit {
        comm: Field,
        group_dead: Option<Field>,
    },
}

/// Decodes raw records by their `common_type` (the tracepoint id).
pub struct Decoders {
    common_type: Field,
    by_id: HashMap<u64, Decoder>,
}

pub(super) fn ip4(bytes: &[u8]) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)))
}

pub(super) fn ip6(bytes: &[u8]) -> Option<IpAddr> {
    Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)).to_canonical())
}

impl Decoders {
    /// From the formats of [`EVENTS`], in order (`None`: not on this kernel).
    pub(crate) fn new(formats: &[Option<Format>]) -> Result<Decoders, String> {
        let state = formats[0]
            .as_ref()
            .ok_or("this kernel has no sock:inet_sock_set_state tracepoint (before 4.16)")?;
        let err = |e: format::FormatError| format!("sock/inet_sock_set_state format: {e}");
        let common_type = state.field("common_type", &[2]).map_err(err)?;
        let mut by_id = HashMap::new();
        by_id.insert(
            state.id,
            Decoder::State(StateFields {
                oldstate: state.field("oldstate", &[4]).map_err(err)?,
                newstate: state.field("newstate", &[4]).map_err(err)?,
                sport: state.field("sport", &[2]).map_err(err)?,
                dport: state.field("dport", &[2]).map_err(err)?,
                family: state.field("family", &[2]).map_err(err)?,
                protocol: state.field("protocol", &[2]).ok(),
                saddr: state.field("saddr", &[4]).map_err(err)?,
                daddr: state.field("daddr", &[4]).map_err(err)?,
                saddr_v6: state.field("saddr_v6", &[16]).map_err(err)?,
                daddr_v6: state.field("daddr_v6", &[16]).map_err(err)?,
            }),
        );
        for (format, syscall) in [
            (&formats[1], Syscall::Connect),
            (&formats[2], Syscall::Bind),
        ] {
            if let Some(f) = format
                && let Ok(ret) = f.field("ret", &[4, 8])
            {
                by_id.insert(f.id, Decoder::Exit(syscall, ret));
            }
        }
        if let Some(f) = &formats[3]
            && let Ok(comm) = f.field("comm", &[16])
        {
            by_id.insert(
                f.id,
                Decoder::ProcessExit {
                    comm,
                    group_dead: f.field("group_dead", &[1]).ok(),
                },
            );
        }
        Ok(Decoders { common_type, by_id })
    }

    /// The event a raw record holds; `None` for a record of no interest or
    /// one too short for its fields.
    pub fn decode(&self, raw: &[u8]) -> Option<Event> {
        let id = read_uint(raw, &self.common_type)?;
        match self.by_id.get(&id)? {
            Decoder::State(f) => {
                if let Some(protocol) = &f.protocol
                    && read_uint(raw, protocol)? != IPPROTO_TCP
                {
                    return None;
                }
                let family = read_uint(raw, &f.family)?;
                let (local, remote) = match family {
                    AF_INET => (
                        ip4(read_bytes(raw, &f.saddr)?)?,
                        ip4(read_bytes(raw, &f.daddr)?)?,
                    ),
                    AF_INET6 => (
                        ip6(read_bytes(raw, &f.saddr_v6)?)?,
                        ip6(read_bytes(raw, &f.daddr_v6)?)?,
                    ),
                    _ => return None,
                };
                Some(Event::StateChange {
                    old: read_int(raw, &f.oldstate)?,
                    new: read_int(raw, &f.newstate)?,
                    sport: read_uint(raw, &f.sport)? as u16,
                    dest: DestTuple {
                        local,
                        remote,
                        remote_port: read_uint(raw, &f.dport)? as u16,
                    },
                })
            }
            Decoder::Exit(syscall, ret) => Some(Event::SyscallExit {
                syscall: *syscall,
                ret: read_int(raw, ret)?,
            }),
            Decoder::ProcessExit { comm, group_dead } => {
                let bytes = read_bytes(raw, comm)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Some(Event::Exit {
                    comm: String::from_utf8_lossy(&bytes[..end]).into_owned(),
                    group_dead: match group_dead {
                        Some(f) => read_uint(raw, f)? != 0,
                        None => true,
                    },
                })
            }
        }
    }
}
