//! Which program is behind a connection: the Connections view names the local process
//! that owns each client's socket, where the OS tells. On Linux that is the socket tables
//! in `/proc/net/{tcp,udp}{,6}` (the socket's inode, per network namespace: the one the
//! mixed port's clients and the TUN's apps live in) and each process's `/proc/PID/fd`
//! links (`socket:[inode]`). Looked up only when the view is drawn, for the connections
//! not yet looked up, in one pass over both; the data path pays nothing. A process of
//! another user stays unnamed unless this one runs as root (as the TUN helper does).
// The tables and their parsers are Linux's; elsewhere only the types are used so far.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

/// The protocol of a client's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

/// A client's socket as the client's own kernel lists it: `local` is the client's address,
/// `remote` the one it sent to (the mixed port, or the destination the TUN captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientSocket {
    pub transport: Transport,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl ClientSocket {
    pub fn tcp(local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            transport: Transport::Tcp,
            local,
            remote,
        }
    }

    pub fn udp(local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            local,
            remote,
        }
    }
}

/// The process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`: at most 15 bytes).
    pub name: String,
}

/// One row of a socket table: the ends as listed and the socket's inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    inode: u64,
}

/// Parses one line of `/proc/net/tcp` (or `tcp6`, `udp`, `udp6`); `None` for the header
/// or anything else. Addresses are the kernel's `%08X` of each 32-bit word as stored
/// (network order read as a native integer), ports `%04X` in host order.
fn parse_row(line: &str) -> Option<Row> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
    Some(Row {
        local: parse_address(local)?,
        remote: parse_address(remote)?,
        inode: inode.parse().ok()?,
    })
}

fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::from(word(0)?),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

/// A table's way of naming an end: `None` for the wildcard (unbound address or an
/// unconnected socket's remote), IPv4-mapped IPv6 as IPv4.
type End = (Option<IpAddr>, u16);

fn end(address: SocketAddr) -> End {
    let ip = address.ip().to_canonical();
    ((!ip.is_unspecified()).then_some(ip), address.port())
}

/// The keys a row may be listed under for `socket`, most exact first. A TCP client's
/// socket is connected and bound, so only its exact ends count (a listener never
/// matches); a UDP socket is often bound to the wildcard and unconnected.
fn keys(socket: &ClientSocket) -> Vec<(Transport, End, End)> {
    let (local, remote) = (end(socket.local), end(socket.remote));
    let t = socket.transport;
    match t {
        Transport::Tcp => vec![(t, local, remote)],
        Transport::Udp => {
            let any_local = (None, local.1);
            let unconnected = (None, 0);
            vec![
                (t, local, remote),
                (t, local, unconnected),
                (t, any_local, remote),
                (t, any_local, unconnected),
            ]
        }
    }
}

/// The inode of each socket in `sockets` that a table row lists.
fn inodes_of(
    sockets: &[ClientSocket],
    rows: impl IntoIterator<Item = (Transport, Row)>,
) -> Vec<Option<u64>> {
    let mut listed: HashMap<(Transport, End, End), u64> = HashMap::new();
    for (transport, row) in rows {
        listed
            .entry((transport, end(row.local), end(row.remote)))
            .or_insert(row.inode);
    }
    sockets
        .iter()
        .map(|socket| keys(socket).iter().find_map(|key| listed.get(key).copied()))
        .collect()
}

/// The inode a `/proc/PID/fd` link names, if it is a socket.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The process behind each of `sockets`, in order (`None` where the OS does not tell).
pub(crate) fn owners(sockets: &[ClientSocket]) -> Vec<Option<Process>> {
    if sockets.is_empty() {
        return Vec::new();
    }
    imp::owners(sockets)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::fs;

    use super::{inodes_of, parse_row, socket_inode, ClientSocket, Process, Transport};

    const TABLES: [(&str, Transport); 4] = [
        ("/proc/net/tcp", Transport::Tcp),
        ("/proc/net/tcp6", Transport::Tcp),
        ("/proc/net/udp", Transport::Udp),
        ("/proc/net/udp6", Transport::Udp),
    ];

    pub fn owners(sockets: &[ClientSocket]) -> Vec<Option<Process>> {
        let wanted: Vec<Transport> = sockets.iter().map(|s| s.transport).collect();
        let tables: Vec<(Transport, String)> = TABLES
            .iter()
            .filter(|(_, transport)| wanted.contains(transport))
            .filter_map(|(path, transport)| Some((*transport, fs::read_to_string(path).ok()?)))
            .collect();
        let rows = tables.iter().flat_map(|(transport, text)| {
            text.lines()
                .filter_map(|line| Some((*transport, parse_row(line)?)))
        });
        let inodes = inodes_of(sockets, rows);
        let pids = pids_of(inodes.iter().flatten().copied().collect());
        inodes
            .iter()
            .map(|inode| pids.get(&(*inode)?).cloned())
            .collect()
    }

    /// The first process found holding each inode; the walk ends once all are found.
    fn pids_of(mut left: Vec<u64>) -> HashMap<u64, Process> {
        let mut found = HashMap::new();
        let Ok(entries) = fs::read_dir("/proc") else {
            return found;
        };
        for entry in entries.flatten() {
            if left.is_empty() {
                break;
            }
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // Another user's process, or one that just ended: not ours to name.
            let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Some(inode) = fs::read_link(fd.path())
                    .ok()
                    .and_then(|link| socket_inode(link.to_str()?))
                else {
                    continue;
                };
                if let Some(at) = left.iter().position(|&i| i == inode) {
                    left.swap_remove(at);
                    let name = fs::read_to_string(entry.path().join("comm"))
                        .map(|comm| comm.trim_end().to_string())
                        .unwrap_or_default();
                    found.insert(inode, Process { pid, name });
                }
            }
        }
        found
    }
}

/// Elsewhere the OS's tables are not read yet: the view shows the address alone.
#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{ClientSocket, Process};

    pub fn owners(sockets: &[ClientSocket]) -> Vec<Option<Process>> {
        vec![None; sockets.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn socket_table_rows_parse_on_this_machine_s_byte_order() {
        // What a little-endian kernel prints; on a big-endian one the words read the
        // other way, which `to_ne_bytes` follows.
        let le = cfg!(target_endian = "little");
        let rows = [
            (
                "   0: 0100007F:0CEA 0200007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1",
                Some(("127.0.0.1:3306", "127.0.0.2:8080", 4242)),
            ),
            (
                "   1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 17 2 0000000000000000 0",
                Some(("0.0.0.0:53", "0.0.0.0:0", 17)),
            ),
            (
                "   2: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000 0 0 99 1",
                Some(("[::1]:8080", "127.0.0.1:50000", 99)),
            ),
            (
                "   3: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 0 0 0 0 0 7",
                Some(("[2001:db8::1]:443", "[::]:0", 7)),
            ),
            ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", None),
            ("   4: 0100007F:ZZZZ 00000000:0000 0A 0 0 0 0 0 1", None),
            ("   5: 0100007F:0050 00000000:0000 0A 0 0 0 0 0 notanumber", None),
            ("   6: 0100007F:0050", None),
        ];
        for (line, want) in rows {
            let got = parse_row(line);
            if !le {
                // Big-endian: only the shape is checked.
                assert_eq!(got.is_some(), want.is_some(), "{line}");
                continue;
            }
            let want = want.map(|(local, remote, inode)| Row {
                local: at(local),
                remote: at(remote),
                inode,
            });
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn a_socket_is_found_by_its_exact_ends_and_a_udp_one_also_by_its_wildcards() {
        let row = |local: &str, remote: &str, inode| Row {
            local: at(local),
            remote: at(remote),
            inode,
        };
        let rows = [
            (Transport::Tcp, row("0.0.0.0:8080", "0.0.0.0:0", 1)),
            (Transport::Tcp, row("127.0.0.1:40000", "127.0.0.1:8080", 2)),
            (Transport::Tcp, row("127.0.0.1:40000", "127.0.0.1:9090", 3)),
            (Transport::Udp, row("10.0.0.2:5353", "0.0.0.0:0", 4)),
            (Transport::Udp, row("[::]:6000", "[::]:0", 5)),
            (Transport::Udp, row("10.0.0.2:7000", "192.0.2.9:53", 6)),
            (
                Transport::Tcp,
                row("[::ffff:10.0.0.2]:41000", "[::ffff:198.18.0.5]:443", 7),
            ),
        ];
        let cases = [
            (
                ClientSocket::tcp(at("127.0.0.1:40000"), at("127.0.0.1:8080")),
                Some(2),
            ),
            // The same local port to another remote (Linux shares ports across 4-tuples).
            (
                ClientSocket::tcp(at("127.0.0.1:40000"), at("127.0.0.1:9090")),
                Some(3),
            ),
            // A listener is never a client's socket.
            (
                ClientSocket::tcp(at("127.0.0.1:8080"), at("127.0.0.1:1")),
                None,
            ),
            (
                ClientSocket::tcp(at("10.0.0.2:41000"), at("198.18.0.5:443")),
                Some(7),
            ),
            (
                ClientSocket::udp(at("10.0.0.2:5353"), at("192.0.2.1:53")),
                Some(4),
            ),
            (
                ClientSocket::udp(at("10.0.0.2:6000"), at("192.0.2.1:443")),
                Some(5),
            ),
            (
                ClientSocket::udp(at("10.0.0.2:7000"), at("192.0.2.9:53")),
                Some(6),
            ),
            (
                ClientSocket::udp(at("10.0.0.2:7001"), at("192.0.2.9:53")),
                None,
            ),
            // A TCP socket is not a UDP one of the same ends.
            (
                ClientSocket::udp(at("127.0.0.1:40000"), at("127.0.0.1:8080")),
                None,
            ),
        ];
        let sockets: Vec<ClientSocket> = cases.iter().map(|(s, _)| *s).collect();
        let want: Vec<Option<u64>> = cases.iter().map(|(_, inode)| *inode).collect();
        assert_eq!(inodes_of(&sockets, rows), want);
    }

    #[test]
    fn fd_links_name_sockets_by_inode() {
        for (link, want) in [
            ("socket:[12345]", Some(12345)),
            ("pipe:[12345]", None),
            ("/dev/null", None),
            ("socket:[]", None),
            ("socket:[1", None),
        ] {
            assert_eq!(socket_inode(link), want, "{link}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_named_behind_its_own_tcp_and_udp_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, _) = listener.accept().unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sockets = [
            ClientSocket::tcp(client.local_addr().unwrap(), client.peer_addr().unwrap()),
            ClientSocket::udp(udp.local_addr().unwrap(), at("192.0.2.1:53")),
            // Closed: nobody holds it.
            ClientSocket::tcp(at("127.0.0.1:1"), at("127.0.0.1:2")),
        ];
        let found = owners(&sockets);
        let me = std::process::id();
        assert_eq!(found[0].as_ref().map(|p| p.pid), Some(me), "{found:?}");
        assert_eq!(found[1].as_ref().map(|p| p.pid), Some(me), "{found:?}");
        assert_eq!(found[2], None);
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(found[0].as_ref().unwrap().name, comm.trim_end());
        drop((served, client, udp));
    }
}
