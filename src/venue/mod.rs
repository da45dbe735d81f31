//! Venues: one module per venue. Each parses a bot's request into typed
//! values (the shared vocabulary in [`crate::order`]) strictly, and builds
//! the exact bytes or digest the key signs itself, so that policy judges
//! exactly what is signed. Nothing here knows how keys are stored.

pub mod binance;
pub mod bybit;
pub mod fields;
pub mod hyperliquid;
pub mod jsonbody;
pub mod okx;
pub mod typed_data;
pub mod verdict;
