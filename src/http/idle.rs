//! Connections that send nothing are closed: every accepted connection gets
//! a read deadline (`listen.idle_timeout`), reset by each byte received.
//! hyper's own header timeout only starts with a request's first byte, so
//! without this a client could hold connections open by staying silent.

use std::pin::Pin;
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::net::TcpStream;
use tokio_io_timeout::TimeoutStream;

/// An acceptor wrapping each connection in a read deadline, under the TLS
/// acceptor when there is one (so the handshake is bounded too).
#[derive(Clone, Copy, Debug)]
pub struct IdleTimeout {
    pub idle: Duration,
}

impl<S> Accept<TcpStream, S> for IdleTimeout {
    type Stream = Pin<Box<TimeoutStream<TcpStream>>>;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(self.idle));
        std::future::ready(Ok((Box::pin(stream), service)))
    }
}
