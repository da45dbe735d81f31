//! The YubiKey-flavoured wrapper around piv-authenticator.
//!
//! The applet implements NIST SP 800-73 PIV plus part of Yubico's
//! extensions. The `yubikey` crate expects a few things it does not do, which
//! are handled here before a command reaches the applet:
//!
//! * SELECT with the 5-byte PIV RID (`A0 00 00 03 08`) is expanded to the full
//!   PIV AID, and a successful SELECT starts a new security session (PIN and
//!   management-key authentication are dropped, as on a YubiKey).
//! * GET VERSION (`FD`) and GET SERIAL (`F8`) answer with the configured
//!   YubiKey version and serial number.
//! * Commands without Le are treated as Le = 256, longer responses are
//!   returned in 256-byte parts through `61xx` / GET RESPONSE, and command
//!   chaining (CLA bit `0x10`) is re-assembled into one command.
//! * Key history (`5FC10C`) is reported as absent (`6A82`).
//! * Yubico's vendor objects `5FFF00`..`5FFFFF` (admin data and friends),
//!   which the applet does not know, are kept in RAM by the wrapper: readable
//!   by anyone, writable after management-key authentication.
//! * The applet's placeholder CCC (27 bytes) is replaced by a 51-byte CCC in
//!   the layout YubiKeys use, which `yubikey::CccId::get` requires.
//! * GET METADATA (`F7`) and ATTEST (`F9`) answer "instruction not
//!   supported" (`6D00`), which the `yubikey` crate maps to
//!   `Error::NotSupported`.

use std::collections::BTreeMap;

use log::{debug, info, trace};
use piv_authenticator::{Authenticator, Options};

use crate::apdu::{self, sw, Apdu};

/// The full PIV application identifier (RID, PIX and version).
const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
/// The `yubikey` crate selects with just the RID.
const PIV_RID_LEN: usize = 5;

const INS_SELECT: u8 = 0xA4;
const INS_VERIFY: u8 = 0x20;
const INS_GENERAL_AUTHENTICATE: u8 = 0x87;
const INS_GET_DATA: u8 = 0xCB;
const INS_PUT_DATA: u8 = 0xDB;
const INS_GET_RESPONSE: u8 = 0xC0;
const INS_YK_GET_METADATA: u8 = 0xF7;
const INS_YK_GET_SERIAL: u8 = 0xF8;
const INS_YK_ATTEST: u8 = 0xF9;
const INS_YK_RESET: u8 = 0xFB;
const INS_YK_GET_VERSION: u8 = 0xFD;

const KEY_REF_MANAGEMENT: u8 = 0x9B;

const OBJ_CCC: u32 = 0x5F_C107;
const OBJ_KEY_HISTORY: u32 = 0x5F_C10C;
const VENDOR_OBJECTS: std::ops::RangeInclusive<u32> = 0x5F_FF00..=0x5F_FFFF;

/// Largest response the applet may produce (certificates are the biggest).
const REPLY_CAPACITY: usize = 8192;
/// Response parts are at most this long, whatever Le asked for.
const MAX_RESPONSE_PART: usize = 256;

/// What the card reports about itself.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub serial: u32,
    pub version: [u8; 3],
}

fn applet_options() -> Options {
    Options::new().label(b"tradeward virtual PIV")
}

struct Chain {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
}

/// The virtual card: applet plus wrapper state.
pub struct VirtualCard<C: piv_authenticator::Client + Clone> {
    client: C,
    applet: Authenticator<C>,
    identity: Identity,
    chain: Option<Chain>,
    pending: Vec<u8>,
    pending_offset: usize,
    admin_authenticated: bool,
    vendor_objects: BTreeMap<u32, Vec<u8>>,
}

impl<C: piv_authenticator::Client + Clone> VirtualCard<C> {
    pub fn new(client: C, identity: Identity) -> Self {
        let applet = Authenticator::new(client.clone(), applet_options());
        Self {
            client,
            applet,
            identity,
            chain: None,
            pending: Vec::new(),
            pending_offset: 0,
            admin_authenticated: false,
            vendor_objects: BTreeMap::new(),
        }
    }

    /// Power-on, power-off and reset all end the security session; stored
    /// keys, PINs and objects stay.
    pub fn reset(&mut self) {
        debug!("card reset");
        self.new_session();
    }

    /// Drops PIN and management-key authentication by logging out in the
    /// applet (which frees the PIN-derived keys it holds) and replacing it
    /// with a fresh instance that reloads its persistent state.
    fn new_session(&mut self) {
        let _ = self.call_applet(0x00, INS_VERIFY, 0xFF, 0x80, &[]);
        self.applet = Authenticator::new(self.client.clone(), applet_options());
        self.admin_authenticated = false;
        self.chain = None;
        self.pending.clear();
        self.pending_offset = 0;
    }

    /// Handles one command APDU and returns the response APDU.
    pub fn handle(&mut self, raw: &[u8]) -> Vec<u8> {
        trace!("> {}", hex(raw));
        let response = self.handle_inner(raw);
        trace!("< {}", hex(&response));
        response
    }

    fn handle_inner(&mut self, raw: &[u8]) -> Vec<u8> {
        let command = match Apdu::parse(raw) {
            Ok(command) => command,
            Err(status) => return status.to_be_bytes().to_vec(),
        };
        let le = command.le.unwrap_or(MAX_RESPONSE_PART);

        if command.ins == INS_GET_RESPONSE && !command.is_chained() {
            return self.next_response_part(le);
        }
        self.pending.clear();
        self.pending_offset = 0;

        if command.is_chained() {
            match &mut self.chain {
                Some(chain)
                    if (chain.ins, chain.p1, chain.p2) == (command.ins, command.p1, command.p2) =>
                {
                    chain.data.extend_from_slice(&command.data);
                }
                _ => {
                    self.chain = Some(Chain {
                        cla: command.cla & !0x10,
                        ins: command.ins,
                        p1: command.p1,
                        p2: command.p2,
                        data: command.data.clone(),
                    })
                }
            }
            return sw::SUCCESS.to_be_bytes().to_vec();
        }

        let command = match self.chain.take() {
            Some(mut chain)
                if (chain.cla, chain.ins, chain.p1, chain.p2)
                    == (command.cla, command.ins, command.p1, command.p2) =>
            {
                chain.data.extend_from_slice(&command.data);
                Apdu {
                    cla: chain.cla,
                    ins: chain.ins,
                    p1: chain.p1,
                    p2: chain.p2,
                    data: chain.data,
                    le: command.le,
                }
            }
            _ => command,
        };

        let (data, status) = self.execute(&command);
        if status != sw::SUCCESS {
            return status.to_be_bytes().to_vec();
        }
        self.pending = data;
        self.pending_offset = 0;
        self.next_response_part(le)
    }

    fn next_response_part(&mut self, le: usize) -> Vec<u8> {
        let remaining = self.pending.len() - self.pending_offset;
        let n = remaining.min(le).min(MAX_RESPONSE_PART);
        let mut out = self.pending[self.pending_offset..self.pending_offset + n].to_vec();
        self.pending_offset += n;
        let left = self.pending.len() - self.pending_offset;
        if left == 0 {
            self.pending.clear();
            self.pending_offset = 0;
            out.extend_from_slice(&sw::SUCCESS.to_be_bytes());
        } else {
            // 61 00 means "256 or more bytes remain".
            out.extend_from_slice(&[0x61, u8::try_from(left).unwrap_or(0)]);
        }
        out
    }

    fn execute(&mut self, c: &Apdu) -> (Vec<u8>, u16) {
        if c.cla != 0x00 {
            return (Vec::new(), sw::CLA_NOT_SUPPORTED);
        }
        match c.ins {
            INS_SELECT if c.p1 == 0x04 => self.select(&c.data),
            INS_YK_GET_VERSION => (self.identity.version.to_vec(), sw::SUCCESS),
            INS_YK_GET_SERIAL => (self.identity.serial.to_be_bytes().to_vec(), sw::SUCCESS),
            INS_YK_GET_METADATA | INS_YK_ATTEST => (Vec::new(), sw::INS_NOT_SUPPORTED),
            INS_GET_DATA if (c.p1, c.p2) == (0x3F, 0xFF) => self.get_data(c),
            INS_PUT_DATA if (c.p1, c.p2) == (0x3F, 0xFF) => self.put_data(c),
            INS_YK_RESET => {
                let result = self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
                if result.1 == sw::SUCCESS {
                    info!("card reset to factory state");
                    self.vendor_objects.clear();
                    self.new_session();
                }
                result
            }
            INS_GENERAL_AUTHENTICATE if c.p2 == KEY_REF_MANAGEMENT => {
                let result = self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
                if result.1 == sw::SUCCESS && completes_management_auth(&c.data) {
                    debug!("management key authenticated");
                    self.admin_authenticated = true;
                }
                result
            }
            _ => self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data),
        }
    }

    fn select(&mut self, aid: &[u8]) -> (Vec<u8>, u16) {
        if aid.len() >= PIV_RID_LEN && PIV_AID.starts_with(aid) {
            self.new_session();
            self.call_applet(0x00, INS_SELECT, 0x04, 0x00, &PIV_AID)
        } else {
            debug!("SELECT of unknown application {}", hex(aid));
            (Vec::new(), sw::NOT_FOUND)
        }
    }

    fn get_data(&mut self, c: &Apdu) -> (Vec<u8>, u16) {
        let Some(tag) = object_tag(&c.data) else {
            return self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
        };
        if tag == OBJ_KEY_HISTORY {
            return (Vec::new(), sw::NOT_FOUND);
        }
        if VENDOR_OBJECTS.contains(&tag) {
            return match self.vendor_objects.get(&tag) {
                Some(value) => (wrap_53(value), sw::SUCCESS),
                None => (Vec::new(), sw::NOT_FOUND),
            };
        }
        let (data, status) = self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
        if tag == OBJ_CCC && status == sw::SUCCESS {
            if let Some((0x53, value, _)) = apdu::take_tlv(&data) {
                if value == piv_authenticator::constants::CARD_CAP {
                    return (wrap_53(&self.yubikey_style_ccc()), sw::SUCCESS);
                }
            }
        }
        (data, status)
    }

    fn put_data(&mut self, c: &Apdu) -> (Vec<u8>, u16) {
        let Some(tag) = object_tag(&c.data) else {
            return self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
        };
        if !VENDOR_OBJECTS.contains(&tag) {
            return self.call_applet(c.cla, c.ins, c.p1, c.p2, &c.data);
        }
        if !self.admin_authenticated {
            return (Vec::new(), sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        let value = apdu::take_tlv(&c.data)
            .and_then(|(_, _, rest)| apdu::take_tlv(rest))
            .filter(|(tag, _, _)| *tag == 0x53)
            .map(|(_, value, _)| value);
        match value {
            Some([]) => {
                self.vendor_objects.remove(&tag);
            }
            Some(value) => {
                self.vendor_objects.insert(tag, value.to_vec());
            }
            None => return (Vec::new(), sw::WRONG_DATA),
        }
        (Vec::new(), sw::SUCCESS)
    }

    /// A Cardholder Capability Container as SP 800-73-4 part 1 lays it out,
    /// with the card identifier derived from the serial number.
    fn yubikey_style_ccc(&self) -> Vec<u8> {
        let mut card_id = [0u8; 14];
        card_id[..6].copy_from_slice(b"TWVPIV");
        card_id[6..10].copy_from_slice(&self.identity.serial.to_be_bytes());
        let mut ccc = Vec::with_capacity(51);
        // F0: card identifier = GSC-RID, manufacturer id, card type, card id.
        ccc.extend_from_slice(&[0xF0, 0x15, 0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02]);
        ccc.extend_from_slice(&card_id);
        ccc.extend_from_slice(&[
            0xF1, 0x01, 0x21, // capability container version
            0xF2, 0x01, 0x21, // capability grammar version
            0xF3, 0x00, // applications card URL
            0xF4, 0x01, 0x00, // PKCS#15
            0xF5, 0x01, 0x10, // registered data model number
            0xF6, 0x00, // access control rule table
            0xF7, 0x00, // card APDUs
            0xFA, 0x00, // redirection tag
            0xFB, 0x00, // capability tuples
            0xFC, 0x00, // status tuples
            0xFD, 0x00, // next CCC
            0xFE, 0x00, // error detection code
        ]);
        ccc
    }

    fn call_applet(&mut self, cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        let bytes = apdu::encode(cla, ins, p1, p2, data);
        let view = match iso7816::command::CommandView::try_from(bytes.as_slice()) {
            Ok(view) => view,
            Err(err) => {
                debug!("command not accepted by the APDU parser: {err:?}");
                return (Vec::new(), sw::WRONG_LENGTH);
            }
        };
        let mut reply: heapless::Vec<u8, REPLY_CAPACITY> = heapless::Vec::new();
        match self.applet.respond(view, &mut reply) {
            Ok(()) => (reply.to_vec(), sw::SUCCESS),
            Err(status) => (Vec::new(), u16::from(status)),
        }
    }
}

/// Whether a successful GENERAL AUTHENTICATE on the management key was the
/// final step of an authentication: the card then has either checked our
/// response (single authentication: `82` with data) or our decrypted witness
/// (mutual authentication: `80` with data). Requests for a witness or a
/// challenge carry empty elements.
fn completes_management_auth(data: &[u8]) -> bool {
    let Some((0x7C, mut inner, _)) = apdu::take_tlv(data) else {
        return false;
    };
    while let Some((tag, value, rest)) = apdu::take_tlv(inner) {
        if (tag == 0x80 || tag == 0x82) && !value.is_empty() {
            return true;
        }
        inner = rest;
    }
    false
}

/// The object tag of a GET DATA / PUT DATA command (`5C len tag ...`).
fn object_tag(data: &[u8]) -> Option<u32> {
    match apdu::take_tlv(data)? {
        (0x5C, tag, _) if !tag.is_empty() && tag.len() <= 3 => {
            Some(tag.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        }
        _ => None,
    }
}

fn wrap_53(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    out.push(0x53);
    apdu::push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_final_management_auth_steps() {
        // Witness request, then mutual step 2.
        assert!(!completes_management_auth(&[0x7C, 0x02, 0x80, 0x00]));
        let mut mutual = vec![0x7C, 0x14, 0x80, 0x08];
        mutual.extend_from_slice(&[1; 8]);
        mutual.extend_from_slice(&[0x81, 0x08]);
        mutual.extend_from_slice(&[2; 8]);
        assert!(completes_management_auth(&mutual));
        // Challenge request, then single step 2.
        assert!(!completes_management_auth(&[0x7C, 0x02, 0x81, 0x00]));
        let mut single = vec![0x7C, 0x0A, 0x82, 0x08];
        single.extend_from_slice(&[3; 8]);
        assert!(completes_management_auth(&single));
    }

    #[test]
    fn reads_object_tags() {
        assert_eq!(object_tag(&[0x5C, 0x03, 0x5F, 0xFF, 0x00]), Some(0x5F_FF00));
        assert_eq!(object_tag(&[0x5C, 0x01, 0x7E]), Some(0x7E));
        assert_eq!(object_tag(&[0x53, 0x00]), None);
    }
}
