//! A `CONNECT` proxy on 127.0.0.1 that records the head of every request it was sent and
//! tunnels each to `127.0.0.1:<port asked for>`, whatever the host: a name such as
//! `registry.test` reaches a registry on this machine without a resolver.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running proxy; it stops accepting when dropped.
#[derive(Debug)]
pub struct ForwardProxy {
    /// `127.0.0.1:port`
    pub addr: String,
    heads: Arc<Mutex<Vec<String>>>,
    listener: Arc<TcpListener>,
}

impl ForwardProxy {
    /// Starts the proxy.
    pub fn start() -> Self {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").expect("bind"));
        let addr = listener.local_addr().expect("addr").to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (l, h) = (Arc::clone(&listener), Arc::clone(&heads));
        std::thread::spawn(move || {
            for conn in l.incoming().take(256) {
                let Ok(conn) = conn else { break };
                let h = Arc::clone(&h);
                std::thread::spawn(move || serve(conn, &h));
            }
        });
        Self {
            addr,
            heads,
            listener,
        }
    }

    /// The heads (request line and headers) of every request received, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        // Wake the accept loop so that it ends.
        let _ = self.listener.set_nonblocking(true);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(conn: TcpStream, heads: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || head.len() > 16 << 10 {
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    heads.lock().expect("lock").push(head.clone());
    let target = head
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.rsplit_once(':'))
        .map(|(_, port)| format!("127.0.0.1:{port}"));
    let mut conn = conn;
    let Some(upstream) = target.and_then(|t| TcpStream::connect(t).ok()) else {
        let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    if !head.starts_with("CONNECT ") {
        let _ = conn.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let _ = conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let buffered = reader.buffer().to_vec();
    let mut up_write = upstream.try_clone().expect("clone");
    let _ = up_write.write_all(&buffered);
    let mut down = conn.try_clone().expect("clone");
    let mut up_read = upstream;
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut down);
        let _ = down.shutdown(Shutdown::Write);
    });
    let mut from_client = reader.into_inner();
    let _ = std::io::copy(&mut from_client, &mut up_write);
    let _ = up_write.shutdown(Shutdown::Write);
    let _ = t.join();
}
