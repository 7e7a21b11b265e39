//! Opens and closes loopback connections at a steady rate, client first, for
//! bench/trace-cost/run, which runs it inside a private network namespace only.
//!
//! Usage: churn RATE SECONDS
//! Listens on 127.2.0.1-16:8080; four client threads connect and close at
//! RATE connections/s in all for SECONDS, four server threads accept, read
//! to EOF and close (so the client side ends in TIME_WAIT). Prints the rate
//! reached.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const THREADS: usize = 4;
const DESTINATIONS: u8 = 16;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(rate), Some(seconds)) = (
        args.get(1).and_then(|a| a.parse::<f64>().ok()),
        args.get(2).and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: churn RATE SECONDS");
        std::process::exit(2);
    };
    let addrs: Vec<SocketAddr> = (1..=DESTINATIONS)
        .map(|i| SocketAddr::from((Ipv4Addr::new(127, 2, 0, i), 8080)))
        .collect();
    let listeners: Vec<TcpListener> = addrs
        .iter()
        .map(|a| TcpListener::bind(a).expect("bind a loopback listener"))
        .collect();
    let done = AtomicBool::new(false);
    let made = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for chunk in listeners.chunks(listeners.len() / THREADS) {
            let done = &done;
            scope.spawn(move || {
                for l in chunk {
                    l.set_nonblocking(true).expect("nonblocking listener");
                }
                let mut buf = [0u8; 16];
                while !done.load(Ordering::Relaxed) {
                    let mut idle = true;
                    for l in chunk {
                        while let Ok((mut s, _)) = l.accept() {
                            idle = false;
                            let _ = s.set_nonblocking(false);
                            let _ = s.read(&mut buf);
                        }
                    }
                    if idle {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            });
        }
        let clients: Vec<_> = (0..THREADS)
            .map(|t| {
                let (addrs, made) = (&addrs, &made);
                scope.spawn(move || {
                    let per_thread = rate / THREADS as f64;
                    let mut n = 0u64;
                    loop {
                        let elapsed = start.elapsed().as_secs_f64();
                        if elapsed >= seconds {
                            break;
                        }
                        let due = (elapsed * per_thread) as u64;
                        if n >= due {
                            std::thread::sleep(Duration::from_micros(500));
                            continue;
                        }
                        let to = addrs[(n as usize * THREADS + t) % addrs.len()];
                        if let Ok(s) = TcpStream::connect(to) {
                            drop(s);
                            made.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        for c in clients {
            let _ = c.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0}", made.load(Ordering::Relaxed) as f64 / secs);
}
