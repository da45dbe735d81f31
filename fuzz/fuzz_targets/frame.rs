//! Frame decoding (`frame`: the bot socket, the worker pipe and the client
//! all use it), over a byte stream
//! that may hold any number of frames, torn prefixes and oversized lengths.
//!
//! Asserts: reading never panics; a frame is exactly as long as its prefix
//! says and is taken from exactly the bytes that follow the prefix; an
//! oversized prefix is reported as `TooLarge` with the prefix's value and
//! nothing after it is read; `Closed` comes only at the end of the stream;
//! writing the frames back reproduces the stream byte for byte; every frame
//! payload goes through the request parser without a panic; the blocking
//! reader (worker, client) reads exactly what the async one (agent) reads.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tradeward::frame::{ReadFrame, read, read_async as read_frame, write_async as write_frame};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// A read's outcome, comparable across the two readers (their I/O errors
/// differ in message, not in kind).
fn outcome(r: &std::io::Result<ReadFrame>) -> String {
    match r {
        Ok(f) => format!("{f:?}"),
        Err(e) => format!("error {:?}", e.kind()),
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size limit, so that small limits (and the
    // TooLarge path) are reached as often as large ones.
    let Some((&limit, stream)) = data.split_first() else {
        return;
    };
    let max = usize::from(limit) * 4;
    runtime().block_on(async {
        let mut r = stream;
        let mut blocking = stream;
        let mut rewritten = Vec::new();
        loop {
            let before = r.len();
            let offset = stream.len() - before;
            let got = read_frame(&mut r, max).await;
            let same = read(&mut blocking, max);
            assert_eq!(
                outcome(&got),
                outcome(&same),
                "blocking and async reads differ"
            );
            assert_eq!(r.len(), blocking.len());
            match got {
                Ok(ReadFrame::Frame(payload)) => {
                    assert!(payload.len() <= max, "frame above the limit");
                    let prefix: [u8; 4] = stream[offset..offset + 4].try_into().unwrap();
                    assert_eq!(u32::from_be_bytes(prefix) as usize, payload.len());
                    assert_eq!(
                        &stream[offset + 4..offset + 4 + payload.len()],
                        &payload[..]
                    );
                    assert_eq!(r.len(), before - 4 - payload.len());
                    write_frame(&mut rewritten, &payload).await.unwrap();
                    let _ = tradeward::protocol::parse_request(&payload);
                }
                Ok(ReadFrame::Closed) => {
                    assert_eq!(before, 0, "Closed before the end of the stream");
                    assert_eq!(rewritten, stream, "frames do not re-encode to the stream");
                    break;
                }
                Ok(ReadFrame::TooLarge(len)) => {
                    assert!(len > max);
                    let prefix: [u8; 4] = stream[offset..offset + 4].try_into().unwrap();
                    assert_eq!(u32::from_be_bytes(prefix) as usize, len);
                    assert_eq!(r.len(), before - 4, "TooLarge read past the prefix");
                    break;
                }
                Err(e) => {
                    // Only a torn prefix or a short payload is an error.
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                    assert!(before > 0);
                    break;
                }
            }
        }
    });
});
