//! A TCP proxy on 127.0.0.1 that shapes traffic like a distant link: each chunk is held
//! until its arrival time plus a fixed delay (in order, without serialising throughput: a
//! full pipe of chunks is in flight at once), and each direction of each connection is capped
//! at a rate by a token bucket. Threads only: per connection and direction, one reader that
//! stamps chunks and one writer that releases them, with a bounded queue between them (what
//! is in flight), so that a fast sender is held back as by a real link.
//!
//! ```no_run
//! use modeloci_tests::shaping_proxy::{Shape, ShapingProxy};
//! let proxy = ShapingProxy::start("127.0.0.1:5000", Shape::default());
//! // Point a client at proxy.addr: 40 ms each way, 50 MiB/s per direction.
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How traffic is shaped, per connection and direction.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Added to every chunk, each way.
    pub delay: Duration,
    /// Bytes per second, each way.
    pub rate: u64,
}

impl Default for Shape {
    /// 40 ms each way, 50 MiB/s per direction.
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(40),
            rate: 50 << 20,
        }
    }
}

/// The proxy; stops accepting on drop (connections open then run to their end).
#[derive(Debug)]
pub struct ShapingProxy {
    /// `127.0.0.1:port`.
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The largest chunk read at once: small enough that the bucket shapes smoothly.
const CHUNK: usize = 64 << 10;

impl ShapingProxy {
    /// Starts a proxy to `upstream` (`host:port`).
    ///
    /// # Panics
    ///
    /// When it cannot listen on 127.0.0.1.
    pub fn start(upstream: &str, shape: Shape) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let upstream = upstream.to_owned();
        let thread = thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let upstream = upstream.clone();
                        thread::spawn(move || connect(client, &upstream, shape));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ShapingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Joins `client` to a new connection to `upstream`, shaped both ways.
fn connect(client: TcpStream, upstream: &str, shape: Shape) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || pipe(client, server, shape));
    pipe(server2, client2, shape);
    let _ = up.join();
}

/// Carries `from` to `to`: a reader stamping chunks with their release time, a writer
/// releasing them in order once due and once the bucket allows.
fn pipe(mut from: TcpStream, to: TcpStream, shape: Shape) {
    // Room for twice the chunks in flight over the delay at the full rate (the link's
    // bandwidth-delay product); a sender faster than that waits, as over a real link.
    let in_flight = shape.rate as f64 * shape.delay.as_secs_f64() / CHUNK as f64;
    let (tx, rx) = mpsc::sync_channel::<(Instant, Vec<u8>)>(16.max(2 * in_flight as usize));
    let writer = thread::spawn(move || release(&rx, to, shape.rate));
    let mut buf = vec![0; CHUNK];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + shape.delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}

/// Writes each chunk to `to` once due, paced to `rate` bytes a second; then ends the write
/// side, so that the peer sees the end of the stream.
fn release(rx: &mpsc::Receiver<(Instant, Vec<u8>)>, mut to: TcpStream, rate: u64) {
    let mut bucket = Bucket::new(rate);
    for (due, chunk) in rx {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        bucket.take(chunk.len() as u64);
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A token bucket of `rate` bytes a second, holding at most one chunk's worth.
struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            tokens: CHUNK as f64,
            last: Instant::now(),
        }
    }

    /// Waits until `n` tokens are there, and takes them.
    fn take(&mut self, n: u64) {
        let rate = self.rate as f64;
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(CHUNK as f64);
        self.last = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            thread::sleep(Duration::from_secs_f64(-self.tokens / rate));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1: whatever comes in goes back.
    fn echo() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                thread::spawn(move || {
                    let mut back = stream.try_clone().unwrap();
                    let _ = std::io::copy(&mut stream, &mut back);
                    let _ = back.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    #[test]
    fn a_round_trip_takes_the_delay_each_way() {
        let proxy = ShapingProxy::start(&echo(), Shape::default());
        let mut stream = TcpStream::connect(&proxy.addr).unwrap();
        let start = Instant::now();
        stream.write_all(b"ping").unwrap();
        let mut back = [0; 4];
        stream.read_exact(&mut back).unwrap();
        let took = start.elapsed();
        assert_eq!(&back, b"ping");
        assert!(took >= Duration::from_millis(80), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn the_rate_is_capped_and_the_bytes_arrive_intact() {
        let sink = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink_addr = sink.local_addr().unwrap().to_string();
        let received = thread::spawn(move || {
            let (mut stream, _) = sink.accept().unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).unwrap();
            all
        });
        let proxy = ShapingProxy::start(&sink_addr, Shape::default());
        let data: Vec<u8> = (0..20u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
        let start = Instant::now();
        let mut stream = TcpStream::connect(&proxy.addr).unwrap();
        stream.write_all(&data).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let all = received.join().unwrap();
        let took = start.elapsed();
        assert!(all == data, "{} bytes arrived of {}", all.len(), data.len());
        assert!(took >= Duration::from_millis(390), "{took:?}");
    }
}
