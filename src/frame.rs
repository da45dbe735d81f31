//! The one framing every tradeward process speaks: a 4-byte big-endian
//! length, then that many bytes. The bot and admin sockets carry UTF-8 JSON
//! in it (docs/protocol.md), the worker pipe postcard messages, and the Rust
//! client uses it from the other end of the socket.
//!
//! Why one codec: the length rules (the limit, a torn prefix, a clean end
//! between frames) are where a stream desynchronises, and they are written
//! once. A malformed payload never desynchronises the stream: as long as
//! the length is within the limit, the next frame starts where this one
//! ends. A frame is read into a buffer that is wiped when dropped, because
//! a frame may carry a PIN (the worker's `Init`, an operator's request).
//!
//! The reads come in a blocking form (the worker, the client) and an async
//! one (the agent), over the same header functions.

use std::io::{Read, Write};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

/// The length prefix's size.
pub const HEADER_LEN: usize = 4;

/// A frame's payload; wiped when dropped.
pub type Payload = Zeroizing<Vec<u8>>;

/// What reading a frame produced.
#[derive(Debug)]
pub enum ReadFrame {
    Frame(Payload),
    /// The peer closed the stream between frames.
    Closed,
    /// The length prefix exceeds the limit. The payload is not read; the
    /// stream cannot be resynchronised and must close.
    TooLarge(usize),
}

/// The header for a payload of `len` bytes.
pub fn header(len: usize) -> std::io::Result<[u8; HEADER_LEN]> {
    u32::try_from(len)
        .map(u32::to_be_bytes)
        .map_err(|_| std::io::Error::other("frame too large"))
}

/// One frame, header and payload in one buffer, so a writer sends it with
/// one `write` and the reader is woken once.
pub fn encode(payload: &[u8]) -> std::io::Result<Payload> {
    let mut buf = Zeroizing::new(Vec::with_capacity(HEADER_LEN + payload.len()));
    buf.extend_from_slice(&header(payload.len())?);
    buf.extend_from_slice(payload);
    Ok(buf)
}

/// One frame whose payload `fill` writes into the buffer after the header
/// (e.g. a serializer writing in place). The buffer is wiped when dropped.
pub fn encode_with(
    fill: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<Payload> {
    let mut buf = Zeroizing::new(vec![0u8; HEADER_LEN]);
    fill(&mut buf)?;
    let h = header(buf.len() - HEADER_LEN)?;
    buf[..HEADER_LEN].copy_from_slice(&h);
    Ok(buf)
}

/// A stream that ended after `got` bytes of a header: a clean close before
/// the first byte, a torn frame after it.
fn torn(got: usize) -> std::io::Result<()> {
    if got == 0 {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "stream ended inside a frame's length prefix",
        ))
    }
}

/// Read one frame of at most `max` bytes (blocking).
pub fn read<R: Read>(r: &mut R, max: usize) -> std::io::Result<ReadFrame> {
    let mut len = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut len[got..]) {
            Ok(0) => {
                torn(got)?;
                return Ok(ReadFrame::Closed);
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Ok(ReadFrame::TooLarge(len));
    }
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf)?;
    Ok(ReadFrame::Frame(buf))
}

/// Write one frame (blocking) and flush it.
pub fn write<W: Write>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    w.write_all(&encode(payload)?)?;
    w.flush()
}

/// Read one frame of at most `max` bytes.
pub async fn read_async<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<ReadFrame> {
    let mut len = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            torn(got)?;
            return Ok(ReadFrame::Closed);
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Ok(ReadFrame::TooLarge(len));
    }
    let mut buf = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut buf).await?;
    Ok(ReadFrame::Frame(buf))
}

/// Write one frame and flush it.
pub async fn write_async<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    write_encoded_async(w, &encode(payload)?).await
}

/// Write a frame made by [`encode`] or [`encode_with`] and flush it.
pub async fn write_encoded_async<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &[u8],
) -> std::io::Result<()> {
    w.write_all(frame).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> Vec<u8> {
        let mut wire = encode(b"{}").unwrap().to_vec();
        wire.extend_from_slice(&[0, 0, 0x10, 0]);
        wire
    }

    #[tokio::test]
    async fn async_frames() {
        let wire = wire();
        let mut r = &wire[..];
        assert!(
            matches!(read_async(&mut r, 100).await.unwrap(), ReadFrame::Frame(f) if *f == b"{}")
        );
        assert!(matches!(
            read_async(&mut r, 100).await.unwrap(),
            ReadFrame::TooLarge(4096)
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_async(&mut empty, 100).await.unwrap(),
            ReadFrame::Closed
        ));
        let mut torn: &[u8] = &[0, 0];
        assert!(read_async(&mut torn, 100).await.is_err());
        let mut short: &[u8] = &[0, 0, 0, 5, b'{'];
        assert!(read_async(&mut short, 100).await.is_err());
    }

    #[test]
    fn blocking_frames_match_async_ones() {
        let wire = wire();
        let mut r = &wire[..];
        assert!(matches!(read(&mut r, 100).unwrap(), ReadFrame::Frame(f) if *f == b"{}"));
        assert!(matches!(
            read(&mut r, 100).unwrap(),
            ReadFrame::TooLarge(4096)
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(read(&mut empty, 100).unwrap(), ReadFrame::Closed));
        let mut torn: &[u8] = &[0, 0];
        assert_eq!(
            read(&mut torn, 100).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
        let mut short: &[u8] = &[0, 0, 0, 5, b'{'];
        assert!(read(&mut short, 100).is_err());
        let mut out = Vec::new();
        write(&mut out, b"abc").unwrap();
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn encode_with_writes_the_header_after_the_payload() {
        let f = encode_with(|b| {
            b.extend_from_slice(b"hello");
            Ok(())
        })
        .unwrap();
        assert_eq!(&f[..], &[0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
    }
}
