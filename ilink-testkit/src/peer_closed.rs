//! Whether a client has already hung up a connection the simulator still serves, as the
//! kernel knows it: the simulator itself notices a hang-up only when its runtime gets to
//! the connection, which on a loaded machine can be long after the client closed it.
//!
//! A poll whose client hung up is not a poller any more, so a later poll of the same
//! account is no overlap (see [`PollBook`](crate::polls::PollBook)).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states (`include/net/tcp_states.h`) of a socket whose peer has sent its FIN:
/// CLOSE_WAIT, LAST_ACK, CLOSE and CLOSING.
const PEER_GONE: [u8; 4] = [0x08, 0x09, 0x07, 0x0B];

/// Whether the client at `peer` has closed its end of its connection to this process.
///
/// Reads `/proc/net/tcp` and `/proc/net/tcp6`; `false` where they cannot be read or do
/// not name the connection, so that a poll counts as alive unless the kernel says
/// otherwise.
pub(crate) fn peer_closed(peer: SocketAddr) -> bool {
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"].map(std::fs::read_to_string);
    let states: Vec<u8> = tables
        .iter()
        .flatten()
        .flat_map(|text| states_towards(text, peer))
        .collect();
    hung_up(&states)
}

/// Whether the sockets whose remote end is a poll's client say it hung up. An earlier
/// connection from the same client port may linger beside the poll's own: one in
/// TIME_WAIT is left aside, and any other that is still open means the client may be
/// polling, so that a real overlap is never hidden by a stale line.
fn hung_up(states: &[u8]) -> bool {
    const TIME_WAIT: u8 = 0x06;
    let mut live = states.iter().filter(|st| **st != TIME_WAIT).peekable();
    live.peek().is_some() && live.all(|st| PEER_GONE.contains(st))
}

/// The states of the sockets in `table` (the text of `/proc/net/tcp` or `tcp6`) whose
/// remote end is `peer`: the simulator's side of the connection.
fn states_towards(table: &str, peer: SocketAddr) -> impl Iterator<Item = u8> + '_ {
    table.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let _slot = fields.next()?;
        let _local = fields.next()?;
        let remote = parse_addr(fields.next()?)?;
        let state = u8::from_str_radix(fields.next()?, 16).ok()?;
        (remote == peer).then_some(state)
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the address words are in the
/// kernel's byte order, the port is not.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_le_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn kernel_addresses_parse() {
        assert_eq!(
            parse_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(parse_addr("0100007F"), None);
        assert_eq!(parse_addr("zz00007F:0050"), None);
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n   \
                     0: 0100007F:1F90 0100007F:D431 08 00000000:00000000\n";
        let states = |peer: &str| states_towards(table, peer.parse().unwrap()).collect::<Vec<_>>();
        assert_eq!(states("127.0.0.1:54321"), [8]);
        assert!(states("127.0.0.1:1").is_empty());
    }

    #[test]
    fn a_stale_line_of_the_same_client_port_never_hides_a_live_poll() {
        const ESTABLISHED: u8 = 0x01;
        const CLOSE_WAIT: u8 = 0x08;
        const LAST_ACK: u8 = 0x09;
        const TIME_WAIT: u8 = 0x06;
        assert!(hung_up(&[CLOSE_WAIT]));
        assert!(
            hung_up(&[TIME_WAIT, CLOSE_WAIT]),
            "an old closed connection aside"
        );
        assert!(
            !hung_up(&[LAST_ACK, ESTABLISHED]),
            "the poll's own is still open"
        );
        assert!(!hung_up(&[ESTABLISHED]));
        assert!(
            !hung_up(&[TIME_WAIT]),
            "nothing of the poll's own connection"
        );
        assert!(!hung_up(&[]));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_client_that_closed_its_end_is_seen_at_once_and_an_open_one_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut served, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(!peer_closed(peer), "the client is still connected");
        drop(client);
        // The server has not read anything, as a busy simulator would not have.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !peer_closed(peer) {
            assert!(Instant::now() < deadline, "the hang-up never showed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut buf = [0u8; 1];
        assert_eq!(served.read(&mut buf).unwrap(), 0, "the server sees EOF too");
    }
}
