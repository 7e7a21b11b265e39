//! Fills the current network namespace with client-side TIME_WAIT sockets,
//! for bench/tw-scale/run, which runs it inside a private namespace only.
//!
//! Usage: tw_fill COUNT DESTINATIONS
//! Listens on 127.1.x.y:8080 for DESTINATIONS addresses and, from two
//! threads, connects and closes client-first COUNT times in all. Each thread
//! owns its own listeners, so one never accepts the other's connection.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(count), Some(dests)) = (
        args.get(1).and_then(|a| a.parse::<usize>().ok()),
        args.get(2).and_then(|a| a.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: tw_fill COUNT DESTINATIONS");
        std::process::exit(2);
    };
    let dests = dests.clamp(2, 62_500);
    let listeners: Vec<TcpListener> = (0..dests)
        .map(|i| {
            let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
            TcpListener::bind(SocketAddr::from((ip, 8080))).expect("bind a loopback listener")
        })
        .collect();
    let threads = 2;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let own: Vec<&TcpListener> = listeners.iter().skip(t).step_by(threads).collect();
            scope.spawn(move || {
                let mut buf = [0u8; 1];
                for n in (t..count).step_by(threads) {
                    let listener = own[(n / threads) % own.len()];
                    let client = match TcpStream::connect(listener.local_addr().unwrap()) {
                        Ok(c) => c,
                        Err(e) => {
                            eprintln!("connect #{n}: {e}");
                            std::process::exit(1);
                        }
                    };
                    let (mut server, _) = listener.accept().expect("accept");
                    // Client first: the TIME_WAIT lands on the client's ephemeral port.
                    drop(client);
                    let _ = server.read(&mut buf);
                    drop(server);
                }
            });
        }
    });
}
