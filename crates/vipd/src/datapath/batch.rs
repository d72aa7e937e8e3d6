//! Reading a whole hash map in chunks with `BPF_MAP_LOOKUP_BATCH` (Linux 5.6+,
//! hash and LRU hash maps): one `bpf()` call per few thousand entries, where
//! aya 0.14's iterator makes two per entry (`GET_NEXT_KEY`, then `LOOKUP_ELEM`).
//! The difference is what a once-a-second walk of a busy connection table costs:
//! 262,144 entries are ~524,000 syscalls one by one (an estimated most of a CPU
//! on the lab's VM), and ~64 in batches.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `BPF_MAP_LOOKUP_BATCH` in `enum bpf_cmd`.
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct BatchAttr {
    /// Where to resume (NULL: from the start); a hash map's token is a bucket index.
    in_batch: u64,
    /// Where the kernel writes the token to resume from.
    out_batch: u64,
    /// Buffer for `count` keys.
    keys: u64,
    /// Buffer for `count` values.
    values: u64,
    /// In: room in the buffers, in elements; out: elements written.
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Calls `f` with each key and value of the (non-per-CPU) hash map behind
/// `fd`, whose keys are `K` and values `V`, reading `chunk` entries per call.
/// Returns how many entries were visited. Entries added or removed during the
/// walk may or may not be seen, as with any walk of a live map. An error of
/// kind `Unsupported` means the kernel has no batch operations for this map.
pub fn for_each_entry<K: aya::Pod, V: aya::Pod>(
    fd: BorrowedFd<'_>,
    chunk: u32,
    f: &mut dyn FnMut(&K, V),
) -> io::Result<usize> {
    let key_size = std::mem::size_of::<K>();
    let value_size = std::mem::size_of::<V>();
    let mut chunk = chunk.max(1);
    let mut keys = vec![0u8; key_size * chunk as usize];
    let mut values = vec![0u8; value_size * chunk as usize];
    // Tokens are 4 bytes for hash maps; 8 leaves room and keeps alignment.
    let (mut token_in, mut token_out) = (0u64, 0u64);
    let mut started = false;
    let mut seen = 0usize;
    loop {
        let mut attr = BatchAttr {
            in_batch: if started {
                std::ptr::from_ref(&token_in) as u64
            } else {
                0
            },
            out_batch: std::ptr::from_mut(&mut token_out) as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        let err = lookup_batch(&mut attr);
        let done = match err {
            None => false,
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            // One bucket holds more entries than the buffers: grow them, retry.
            Some(e) if e.raw_os_error() == Some(libc::ENOSPC) && chunk < 1 << 20 => {
                chunk *= 2;
                keys.resize(key_size * chunk as usize, 0);
                values.resize(value_size * chunk as usize, 0);
                continue;
            }
            // No batch operations (EINVAL before 5.6, the kernel's ENOTSUPP, 524).
            Some(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | 524)) => {
                return Err(io::Error::new(io::ErrorKind::Unsupported, e));
            }
            Some(e) => return Err(e),
        };
        let n = (attr.count.min(chunk)) as usize;
        for i in 0..n {
            let k = read_value::<K>(&keys, i * key_size);
            f(&k, read_value::<V>(&values, i * value_size));
        }
        seen += n;
        if done {
            return Ok(seen);
        }
        token_in = token_out;
        started = true;
    }
}

#[expect(
    unsafe_code,
    reason = "the bpf(2) system call, which libc does not wrap"
)]
fn lookup_batch(attr: &mut BatchAttr) -> Option<io::Error> {
    // SAFETY: attr is a valid `union bpf_attr` prefix of the size passed; every
    // pointer in it points into buffers that live across the call and hold
    // `count` elements.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_BATCH,
            std::ptr::from_mut(attr),
            std::mem::size_of::<BatchAttr>(),
        )
    };
    (r < 0).then(io::Error::last_os_error)
}

/// The V at byte offset `at` of `buf` (which the kernel filled).
#[expect(unsafe_code, reason = "a value copied out of a byte buffer")]
pub(crate) fn read_value<V: aya::Pod>(buf: &[u8], at: usize) -> V {
    let bytes = &buf[at..at + std::mem::size_of::<V>()];
    // SAFETY: `bytes` is in bounds and exactly size_of::<V>() long; V is plain
    // old data, valid for any bytes (aya::Pod); the read needs no alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<V>()) }
}
