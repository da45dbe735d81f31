//! The vpcd wire protocol, as spoken by vsmartcard's virtual reader driver.
//!
//! The card connects over TCP to the port vpcd listens on. Every message in
//! either direction is a 2-byte big-endian length followed by that many
//! bytes. From vpcd, a 1-byte message is a control code (0 power off, 1 power
//! on, 2 reset, 4 "send the ATR"); anything longer is a command APDU. The
//! card answers the ATR request with its ATR and every APDU with a response
//! APDU; control codes other than 4 get no answer.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a blocked read wakes up to look at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// An ATR announcing T=1 (the `yubikey` crate connects with T=1 only).
pub const ATR: &[u8] = &[
    0x3B, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xFF, 0x01, 0x00, 0x0B,
];

pub enum Message {
    PowerOff,
    PowerOn,
    Reset,
    GetAtr,
    Apdu(Vec<u8>),
}

/// Why reading from vpcd stopped.
pub enum ReadError {
    /// The stop flag was raised (SIGTERM / SIGINT).
    Stopped,
    /// vpcd closed the connection or the connection failed.
    Disconnected(io::Error),
    /// vpcd sent something this program does not understand.
    Protocol(String),
}

pub struct Connection {
    stream: TcpStream,
}

impl Connection {
    pub fn connect(port: u16) -> io::Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        Ok(Self { stream })
    }

    pub fn read(&mut self, stop: &AtomicBool) -> Result<Message, ReadError> {
        let mut len = [0u8; 2];
        self.read_full(&mut len, stop)?;
        let len = usize::from(u16::from_be_bytes(len));
        let mut body = vec![0u8; len];
        self.read_full(&mut body, stop)?;
        match body.as_slice() {
            [] => Err(ReadError::Protocol("empty message".into())),
            [0] => Ok(Message::PowerOff),
            [1] => Ok(Message::PowerOn),
            [2] => Ok(Message::Reset),
            [4] => Ok(Message::GetAtr),
            [code] => Err(ReadError::Protocol(format!("unknown control code {code}"))),
            _ => Ok(Message::Apdu(body)),
        }
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let len = u16::try_from(data.len())
            .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "response too long"))?;
        let mut frame = Vec::with_capacity(data.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(data);
        self.stream.write_all(&frame)
    }

    /// Fills `buf`, waking up every poll interval to honour the stop flag.
    fn read_full(&mut self, buf: &mut [u8], stop: &AtomicBool) -> Result<(), ReadError> {
        let mut filled = 0;
        while filled < buf.len() {
            if stop.load(Ordering::SeqCst) {
                return Err(ReadError::Stopped);
            }
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(ReadError::Disconnected(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "vpcd closed the connection",
                    )))
                }
                Ok(n) => filled += n,
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(ReadError::Disconnected(err)),
            }
        }
        Ok(())
    }
}
