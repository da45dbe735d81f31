//! Framing on the bot socket: a 4-byte big-endian length, then that many
//! bytes of UTF-8 JSON. Kept apart from parsing so that a malformed payload
//! never desynchronises the stream: as long as the length prefix is sane,
//! the next frame starts where this one ends.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What reading a frame produced.
#[derive(Debug)]
pub enum ReadFrame {
    Frame(Vec<u8>),
    /// The peer closed the connection between frames.
    Closed,
    /// The length prefix exceeds the limit. The payload is not read; the
    /// connection cannot be resynchronised and must close.
    TooLarge(usize),
}

/// Read one frame of at most `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<ReadFrame> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(ReadFrame::Closed)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Ok(ReadFrame::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(ReadFrame::Frame(buf))
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{}").await.unwrap();
        wire.extend_from_slice(&[0, 0, 0x10, 0]);
        let mut r = &wire[..];
        assert!(
            matches!(read_frame(&mut r, 100).await.unwrap(), ReadFrame::Frame(f) if f == b"{}")
        );
        assert!(matches!(
            read_frame(&mut r, 100).await.unwrap(),
            ReadFrame::TooLarge(4096)
        ));
        let mut empty: &[u8] = &[];
        assert!(matches!(
            read_frame(&mut empty, 100).await.unwrap(),
            ReadFrame::Closed
        ));
        let mut torn: &[u8] = &[0, 0];
        assert!(read_frame(&mut torn, 100).await.is_err());
        let mut short: &[u8] = &[0, 0, 0, 5, b'{'];
        assert!(read_frame(&mut short, 100).await.is_err());
    }
}
