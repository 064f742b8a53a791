//! The sealed file format, version 1.
//!
//! ```text
//! magic "WASEALED" | u16 version | u8 key-id length | key id | 32-byte salt | 7-byte nonce prefix
//! | u32 chunk size | chunk 0 | chunk 1 | ... | last chunk
//! ```
//!
//! The plaintext (an archive, see `archive.rs`) is cut into chunks of `chunk size` bytes, each
//! sealed with AES-256-GCM under the key derived from the named master key, the salt and the
//! session (`keys.rs`). Chunk nonces are prefix + u32 counter + a last-chunk flag (the STREAM
//! construction), so chunks cannot be reordered, dropped or cut off at the end unnoticed. Every
//! chunk's associated data is the whole header plus the workspace and session, so no header byte
//! can change and a file copied to another session does not open. Nothing is returned until every
//! chunk has been authenticated.

use std::io::{BufRead, BufReader, Read, Write};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::keys::VaultKeys;
use super::VaultError;
use crate::ids::SessionKey;

pub const MAGIC: &[u8; 8] = b"WASEALED";
pub const VERSION: u16 = 1;
pub const DEFAULT_CHUNK: usize = 1 << 20;
const MAX_CHUNK: u32 = 16 << 20;
const TAG: usize = 16;
const SALT: usize = 32;
const PREFIX: usize = 7;

/// What the header says, readable without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub key_id: String,
    salt: [u8; SALT],
    prefix: [u8; PREFIX],
    chunk: u32,
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.extend_from_slice(&self.version.to_be_bytes());
        h.push(self.key_id.len() as u8); // key ids are at most 32 bytes (keys.rs)
        h.extend_from_slice(self.key_id.as_bytes());
        h.extend_from_slice(&self.salt);
        h.extend_from_slice(&self.prefix);
        h.extend_from_slice(&self.chunk.to_be_bytes());
        h
    }

    fn aad(&self, key: &SessionKey) -> Vec<u8> {
        let mut aad = self.encode();
        for part in [key.workspace.as_str(), key.session.as_str()] {
            aad.push(part.len() as u8); // ids are at most 63 bytes (ids.rs)
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8]) -> Result<(), VaultError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => VaultError::Truncated,
        _ => VaultError::Read(e),
    })
}

/// Reads and checks the header; the reader is left at the first chunk.
pub fn read_header(r: &mut impl Read) -> Result<Header, VaultError> {
    let mut magic = [0u8; 8];
    read_exact_or(r, &mut magic)?;
    if &magic != MAGIC {
        return Err(VaultError::NotSealed);
    }
    let mut v = [0u8; 2];
    read_exact_or(r, &mut v)?;
    let version = u16::from_be_bytes(v);
    if version != VERSION {
        return Err(VaultError::UnsupportedVersion { found: version, supported: VERSION });
    }
    let mut n = [0u8; 1];
    read_exact_or(r, &mut n)?;
    let mut id = vec![0u8; usize::from(n[0])];
    read_exact_or(r, &mut id)?;
    let key_id = String::from_utf8(id).map_err(|_| VaultError::Authentication)?;
    let mut salt = [0u8; SALT];
    read_exact_or(r, &mut salt)?;
    let mut prefix = [0u8; PREFIX];
    read_exact_or(r, &mut prefix)?;
    let mut c = [0u8; 4];
    read_exact_or(r, &mut c)?;
    let chunk = u32::from_be_bytes(c);
    if chunk == 0 || chunk > MAX_CHUNK {
        return Err(VaultError::Authentication);
    }
    Ok(Header { version, key_id, salt, prefix, chunk })
}

fn nonce(prefix: &[u8; PREFIX], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..PREFIX].copy_from_slice(prefix);
    n[PREFIX..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Encrypts everything written to it into `out`; call [`SealWriter::finish`] to write the last chunk.
pub struct SealWriter<W: Write> {
    out: W,
    cipher: Aes256Gcm,
    header: Header,
    aad: Vec<u8>,
    buf: Zeroizing<Vec<u8>>,
    counter: u32,
}

impl<W: Write> SealWriter<W> {
    /// Writes the header under the keys' seal key and returns the writer.
    pub fn new(
        mut out: W,
        keys: &VaultKeys,
        key: &SessionKey,
        chunk: usize,
    ) -> Result<Self, VaultError> {
        let (key_id, master) = keys.seal_key();
        let mut salt = [0u8; SALT];
        let mut prefix = [0u8; PREFIX];
        rand::rng().fill_bytes(&mut salt);
        rand::rng().fill_bytes(&mut prefix);
        let chunk = chunk.clamp(1, MAX_CHUNK as usize) as u32;
        let header = Header { version: VERSION, key_id: key_id.to_owned(), salt, prefix, chunk };
        let derived = master.derive(&salt, key);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&derived[..]));
        out.write_all(&header.encode()).map_err(|e| VaultError::Write(e.to_string()))?;
        let aad = header.aad(key);
        // Sized once so the plaintext buffer never reallocates (a reallocation would leave an
        // unzeroed copy behind).
        let buf = Zeroizing::new(Vec::with_capacity(chunk as usize));
        Ok(Self { out, cipher, header, aad, buf, counter: 0 })
    }

    fn seal_chunk(&mut self, len: usize, last: bool) -> std::io::Result<()> {
        let mut block: Vec<u8> = self.buf.drain(..len).collect();
        let n = nonce(&self.header.prefix, self.counter, last);
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&n), &self.aad, &mut block)
            .map_err(|_| std::io::Error::other("AES-GCM refused the chunk"))?;
        self.counter =
            self.counter.checked_add(1).ok_or_else(|| std::io::Error::other("too many chunks"))?;
        self.out.write_all(&block)
    }

    /// Seals what is buffered as the last chunk and returns the inner writer.
    pub fn finish(mut self) -> Result<W, VaultError> {
        let len = self.buf.len();
        self.seal_chunk(len, true).map_err(|e| VaultError::Write(e.to_string()))?;
        self.out.flush().map_err(|e| VaultError::Write(e.to_string()))?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let chunk = self.header.chunk as usize;
        let mut rest = data;
        while !rest.is_empty() {
            // A full buffer is sealed only once more data arrives: only `finish` knows the last chunk.
            if self.buf.len() == chunk {
                self.seal_chunk(chunk, false)?;
            }
            let take = (chunk - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// An opened file: its plaintext and the master key id it was sealed under.
pub struct Opened {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub key_id: String,
}

/// Authenticates and decrypts a whole sealed stream into memory; nothing partial is returned.
/// `size_hint` (the file size, or 0) pre-sizes the plaintext buffer so it is not reallocated.
pub fn open(
    r: impl Read,
    keys: &VaultKeys,
    key: &SessionKey,
    size_hint: usize,
) -> Result<Opened, VaultError> {
    let mut r = BufReader::new(r);
    let header = read_header(&mut r)?;
    let master =
        keys.get(&header.key_id).ok_or_else(|| VaultError::UnknownKey(header.key_id.clone()))?;
    let derived = master.derive(&header.salt, key);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&derived[..]));
    let aad = header.aad(key);
    let mut plaintext = Zeroizing::new(Vec::with_capacity(size_hint.min(1 << 32)));
    let full = header.chunk as usize + TAG;
    let mut counter: u32 = 0;
    loop {
        let mut block = vec![0u8; full];
        let n = read_up_to(&mut r, &mut block)?;
        block.truncate(n);
        let last = n < full || r.fill_buf().map_err(VaultError::Read)?.is_empty();
        if n < TAG {
            return Err(VaultError::Truncated);
        }
        if cipher
            .decrypt_in_place(
                Nonce::from_slice(&nonce(&header.prefix, counter, last)),
                &aad,
                &mut block,
            )
            .is_err()
        {
            return Err(classify_failure(&cipher, &header, &aad, counter, last, &block));
        }
        plaintext.extend_from_slice(&block);
        zeroize::Zeroize::zeroize(&mut block);
        if last {
            return Ok(Opened { plaintext, key_id: header.key_id });
        }
        counter = counter.checked_add(1).ok_or(VaultError::Authentication)?;
    }
}

/// A last chunk that opens as a middle chunk means the file was cut at a chunk boundary.
fn classify_failure(
    c: &Aes256Gcm,
    h: &Header,
    aad: &[u8],
    counter: u32,
    last: bool,
    block: &[u8],
) -> VaultError {
    let mut probe = block.to_vec();
    if last
        && c.decrypt_in_place(Nonce::from_slice(&nonce(&h.prefix, counter, false)), aad, &mut probe)
            .is_ok()
    {
        zeroize::Zeroize::zeroize(&mut probe);
        return VaultError::Truncated;
    }
    VaultError::Authentication
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, VaultError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(VaultError::Read(e)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WorkspaceId};
    use crate::vault::keys::MasterKey;

    fn sk(w: &str, s: &str) -> SessionKey {
        SessionKey::new(WorkspaceId::parse(w).unwrap(), SessionId::parse(s).unwrap())
    }

    fn seal(keys: &VaultKeys, key: &SessionKey, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut w = SealWriter::new(Vec::new(), keys, key, chunk).unwrap();
        for part in data.chunks(7) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_at_every_chunk_boundary() {
        let keys = VaultKeys::single("k1", MasterKey::random());
        let key = sk("acme", "main");
        for len in [0usize, 1, 15, 16, 17, 32, 33, 100] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = seal(&keys, &key, &data, 16);
            let opened = open(&sealed[..], &keys, &key, 0).unwrap();
            assert_eq!(&opened.plaintext[..], &data[..], "len {len}");
            assert_eq!(opened.key_id, "k1");
        }
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused() {
        let keys = VaultKeys::single("k1", MasterKey::random());
        let key = sk("acme", "main");
        let sealed = seal(&keys, &key, b"the login is in here, spread over chunks", 16);
        for n in 0..sealed.len() {
            assert!(open(&sealed[..n], &keys, &key, 0).is_err(), "cut at {n}");
            let mut bad = sealed.clone();
            bad[n] ^= 0x01;
            assert!(open(&bad[..], &keys, &key, 0).is_err(), "flip at {n}");
        }
        let header_len = MAGIC.len() + 2 + 1 + 2 + SALT + PREFIX + 4;
        let cut_at_chunk = &sealed[..header_len + 16 + TAG];
        assert!(matches!(open(cut_at_chunk, &keys, &key, 0), Err(VaultError::Truncated)));
    }
}
