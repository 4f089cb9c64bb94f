//! The dev stack's stand-in for a load balancer in front of a service's replicas: each
//! TCP connection goes to the next replica in turn, or to the one after when a replica
//! does not accept it (stopped, killed). Byte streams pass through untouched, so HTTP
//! bodies and event streams of any length flow as they would through a TCP balancer.
//!
//! For trying replicas on one machine only: it checks no health beyond a refused
//! connection, and a production topology puts a real load balancer here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long a replica may take to accept before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Replicas taken in turn, skipping those that refuse.
pub struct Front {
    replicas: Vec<SocketAddr>,
    next: AtomicUsize,
}

impl Front {
    /// # Panics
    /// When `replicas` is empty.
    pub fn new(replicas: Vec<SocketAddr>) -> Arc<Front> {
        assert!(!replicas.is_empty(), "a front needs a replica");
        Arc::new(Front {
            replicas,
            next: AtomicUsize::new(0),
        })
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Front>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (client, _) = listener.accept().await?;
            let front = self.clone();
            tokio::spawn(async move {
                if let Some(replica) = front.connect().await {
                    relay(client, replica).await;
                }
                // No replica accepted: dropping the client closes it, as a balancer
                // with no healthy backend does.
            });
        }
    }

    /// A connection to the next replica that accepts one, starting after the last used.
    async fn connect(&self) -> Option<TcpStream> {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.replicas.len() {
            let replica = self.replicas[(first + offset) % self.replicas.len()];
            if let Ok(Ok(stream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(replica)).await {
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
        }
        None
    }
}

async fn relay(mut client: TcpStream, mut replica: TcpStream) {
    let _ = client.set_nodelay(true);
    // Ends when either side closes or fails; both are then dropped.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut replica).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A replica that answers every connection with its name, then closes.
    async fn named_replica(name: &'static str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.write_all(name.as_bytes()).await.unwrap();
            }
        });
        (address, task)
    }

    async fn ask(front: SocketAddr) -> String {
        let mut stream = TcpStream::connect(front).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn connections_go_to_each_replica_in_turn_and_around_one_that_stopped() {
        let (a, _a) = named_replica("a").await;
        let (b, b_task) = named_replica("b").await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = listener.local_addr().unwrap();
        tokio::spawn(Front::new(vec![a, b]).serve(listener));

        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(ask(front).await);
        }
        assert_eq!(answers, ["a", "b", "a", "b"]);

        // b stops listening: its port refuses, and every connection reaches a.
        b_task.abort();
        let _ = b_task.await;
        for _ in 0..3 {
            assert_eq!(ask(front).await, "a");
        }
    }

    #[tokio::test]
    async fn bytes_pass_both_ways_unchanged() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let (mut read, mut write) = stream.split();
            tokio::io::copy(&mut read, &mut write).await.unwrap();
        });
        let front_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = front_listener.local_addr().unwrap();
        tokio::spawn(Front::new(vec![echo]).serve(front_listener));

        let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let stream = TcpStream::connect(front).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                write.write_all(&sent).await.unwrap();
                write.shutdown().await.unwrap();
            })
        };
        let mut received = Vec::new();
        read.read_to_end(&mut received).await.unwrap();
        writer.await.unwrap();
        assert!(received == sent, "the echo came back changed");
    }
}
