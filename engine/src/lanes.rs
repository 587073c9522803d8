//! BLAKE3 of many short inputs at once: eight independent messages share each compression,
//! one message per SIMD lane. Merkle leaves and nodes are hashed so (`merkle::HashAlg`),
//! and the keyed nonces of sealed personal fields (`privacy::seal`, each message under its
//! own key): a hashing backend of its own, below both.
//!
//! A Merkle leaf (a few hundred bytes) or node (65 bytes) is a single BLAKE3 chunk, a chain
//! of 64-byte blocks that the blake3 crate compresses one after another, so one input
//! cannot fill its SIMD lanes and the crate has no public API for hashing many inputs.
//! Here the compression runs on rows of eight words, one word per message: with AVX2
//! intrinsics when the CPU reports AVX2 at run time, else in plain Rust (which the
//! compiler does not vectorize; it only keeps other CPUs correct). Only inputs of one
//! chunk (at most 1,024 bytes) take the lanes; the tests compare every length with the
//! blake3 crate.

/// A BLAKE3 output.
type Hash = [u8; 32];

/// Messages hashed side by side.
const LANES: usize = 8;
const BLOCK_LEN: usize = 64;
/// The longest input hashed in the lanes: one BLAKE3 chunk.
const MAX_INPUT: usize = 1024;

const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;
const KEYED_HASH: u32 = 16;

const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// The message word order of each of the seven rounds (the BLAKE3 permutation applied
/// round after round).
const SCHEDULE: [[usize; 16]; 7] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8],
    [3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1],
    [10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6],
    [12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4],
    [9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7],
    [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13],
];

/// One word of each of the eight messages.
type Row = [u32; LANES];

/// A 64-byte block of one message.
type Block = [u8; BLOCK_LEN];

/// The sixteen message words of the eight blocks, word by word.
fn transpose(blocks: &[&Block; LANES]) -> [Row; 16] {
    let mut message = [[0u32; LANES]; 16];
    for (lane, block) in blocks.iter().enumerate() {
        for (word, bytes) in block.as_chunks::<4>().0.iter().enumerate() {
            message[word][lane] = u32::from_le_bytes(*bytes);
        }
    }
    message
}

/// BLAKE3 of `prefix ‖ body` for every body, written to `out[i]`. Bodies longer than one
/// chunk, and a lone body, are handed to the blake3 crate.
pub(crate) fn hash_prefixed(prefix: u8, bodies: &[&[u8]], out: &mut [Hash]) {
    assert_eq!(bodies.len(), out.len(), "one output per input");
    let mut order = Vec::with_capacity(bodies.len());
    let lanes_pay = bodies.len() > 1;
    for (index, body) in bodies.iter().enumerate() {
        if lanes_pay && body.len() < MAX_INPUT {
            order.push(index as u32);
        } else {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&[prefix]);
            hasher.update(body);
            out[index] = *hasher.finalize().as_bytes();
        }
    }
    // Messages of equal block counts share a group, so few lanes idle.
    order.sort_unstable_by_key(|&i| blocks(bodies[i as usize].len() + 1));
    hash_sorted(
        Backend::detect(),
        Start::Prefix(prefix),
        bodies,
        &order,
        out,
    );
}

/// Keyed BLAKE3 of each message under its own key (`blake3::keyed_hash(keys[i],
/// messages[i])`), written to `out[i]`. Messages longer than one chunk, and a lone
/// message, are handed to the blake3 crate.
pub(crate) fn keyed_hashes(keys: &[[u8; 32]], messages: &[&[u8]], out: &mut [Hash]) {
    assert!(
        keys.len() == messages.len() && messages.len() == out.len(),
        "one key and one output per input"
    );
    let mut order = Vec::with_capacity(messages.len());
    let lanes_pay = messages.len() > 1;
    for (index, message) in messages.iter().enumerate() {
        if lanes_pay && message.len() <= MAX_INPUT {
            order.push(index as u32);
        } else {
            out[index] = *blake3::keyed_hash(&keys[index], message).as_bytes();
        }
    }
    order.sort_unstable_by_key(|&i| blocks(messages[i as usize].len()));
    hash_sorted(Backend::detect(), Start::Keyed(keys), messages, &order, out);
}

/// How the messages are hashed: unkeyed after a prefix byte, or each under its key.
#[derive(Clone, Copy)]
enum Start<'a> {
    Prefix(u8),
    Keyed(&'a [[u8; 32]]),
}

impl Start<'_> {
    fn prefix_len(self) -> usize {
        match self {
            Start::Prefix(_) => 1,
            Start::Keyed(_) => 0,
        }
    }
}

/// How the eight-lane compression runs on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// Plain Rust, one lane after another.
    Portable,
    /// AVX2, all eight lanes in one instruction; only made after the CPU was checked.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Backend {
    fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Backend::Avx2;
        }
        Backend::Portable
    }

    /// Compresses block `blocks[lane]` into `cv` of each lane.
    fn compress(self, cv: &mut [Row; 8], blocks: &[&Block; LANES], block_len: &Row, flags: &Row) {
        match self {
            Backend::Portable => compress(cv, &transpose(blocks), block_len, flags),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => avx2::compress(cv, blocks, block_len, flags),
        }
    }
}

/// Hashes the bodies group by group of [`LANES`], in `order`. Only a message's first
/// block (which holds the prefix, if any) and its last (which is zero-padded) are
/// copied; the blocks between are read in place, since `prefix ‖ body` puts block `k`
/// at `body[64k - p..64k + 64 - p]` for a prefix of `p` bytes.
fn hash_sorted(
    backend: Backend,
    start: Start<'_>,
    bodies: &[&[u8]],
    order: &[u32],
    out: &mut [Hash],
) {
    const ZERO: Block = [0; BLOCK_LEN];
    let p = start.prefix_len();
    for group in order.chunks(LANES) {
        let mut firsts = [ZERO; LANES];
        let mut lasts = [ZERO; LANES];
        let mut lens = [p; LANES];
        let mut cv: [Row; 8] = IV.map(|word| [word; LANES]);
        for (lane, &index) in group.iter().enumerate() {
            let body = bodies[index as usize];
            let total = body.len() + p;
            let head = body.len().min(BLOCK_LEN - p);
            match start {
                Start::Prefix(prefix) => firsts[lane][0] = prefix,
                Start::Keyed(keys) => {
                    for (word, bytes) in keys[index as usize].as_chunks::<4>().0.iter().enumerate()
                    {
                        cv[word][lane] = u32::from_le_bytes(*bytes);
                    }
                }
            }
            firsts[lane][p..p + head].copy_from_slice(&body[..head]);
            let last = blocks(total) - 1;
            if last > 0 {
                let tail = &body[last * BLOCK_LEN - p..];
                lasts[lane][..tail.len()].copy_from_slice(tail);
            }
            lens[lane] = total;
        }
        let last_steps = lens.map(|len| blocks(len) - 1);
        let steps = last_steps[..group.len()]
            .iter()
            .max()
            .map_or(0, |last| last + 1);
        let keyed = match start {
            Start::Prefix(_) => 0,
            Start::Keyed(_) => KEYED_HASH,
        };
        for step in 0..steps {
            let lane_blocks: [&Block; LANES] = std::array::from_fn(|lane| {
                let last = last_steps[lane];
                if step == 0 {
                    &firsts[lane]
                } else if step == last {
                    &lasts[lane]
                } else if step < last {
                    let body = group.get(lane).map_or(&[][..], |&i| bodies[i as usize]);
                    body.get(step * BLOCK_LEN - p..)
                        .and_then(|rest| rest.first_chunk::<BLOCK_LEN>())
                        .unwrap_or(&ZERO)
                } else {
                    &ZERO
                }
            });
            let mut block_len = [BLOCK_LEN as u32; LANES];
            let mut flags = [keyed; LANES];
            for lane in 0..LANES {
                if step == 0 {
                    flags[lane] |= CHUNK_START;
                }
                if step == last_steps[lane] {
                    flags[lane] |= CHUNK_END | ROOT;
                    block_len[lane] = (lens[lane] - step * BLOCK_LEN) as u32;
                }
            }
            backend.compress(&mut cv, &lane_blocks, &block_len, &flags);
            for (lane, &index) in group.iter().enumerate() {
                if last_steps[lane] == step {
                    let hash = &mut out[index as usize];
                    for (word, bytes) in hash.chunks_exact_mut(4).enumerate() {
                        bytes.copy_from_slice(&cv[word][lane].to_le_bytes());
                    }
                }
            }
        }
    }
}

/// 64-byte blocks in a chunk of `len` bytes (an empty chunk still has one).
fn blocks(len: usize) -> usize {
    len.div_ceil(BLOCK_LEN).max(1)
}

/// The BLAKE3 compression function on eight states at once, with chunk counter 0;
/// leaves the chaining values in `cv`.
fn compress(cv: &mut [Row; 8], message: &[Row; 16], block_len: &Row, flags: &Row) {
    let mut v: [Row; 16] = [
        cv[0],
        cv[1],
        cv[2],
        cv[3],
        cv[4],
        cv[5],
        cv[6],
        cv[7],
        [IV[0]; LANES],
        [IV[1]; LANES],
        [IV[2]; LANES],
        [IV[3]; LANES],
        [0; LANES],
        [0; LANES],
        *block_len,
        *flags,
    ];
    round(&mut v, message, &SCHEDULE[0]);
    round(&mut v, message, &SCHEDULE[1]);
    round(&mut v, message, &SCHEDULE[2]);
    round(&mut v, message, &SCHEDULE[3]);
    round(&mut v, message, &SCHEDULE[4]);
    round(&mut v, message, &SCHEDULE[5]);
    round(&mut v, message, &SCHEDULE[6]);
    for word in 0..8 {
        for lane in 0..LANES {
            cv[word][lane] = v[word][lane] ^ v[word + 8][lane];
        }
    }
}

#[inline(always)]
fn round(v: &mut [Row; 16], m: &[Row; 16], s: &[usize; 16]) {
    g(v, [0, 4, 8, 12], &m[s[0]], &m[s[1]]);
    g(v, [1, 5, 9, 13], &m[s[2]], &m[s[3]]);
    g(v, [2, 6, 10, 14], &m[s[4]], &m[s[5]]);
    g(v, [3, 7, 11, 15], &m[s[6]], &m[s[7]]);
    g(v, [0, 5, 10, 15], &m[s[8]], &m[s[9]]);
    g(v, [1, 6, 11, 12], &m[s[10]], &m[s[11]]);
    g(v, [2, 7, 8, 13], &m[s[12]], &m[s[13]]);
    g(v, [3, 4, 9, 14], &m[s[14]], &m[s[15]]);
}

/// The quarter-round on state rows `a, b, c, d`, every lane at once.
#[inline(always)]
fn g(v: &mut [Row; 16], [a, b, c, d]: [usize; 4], x: &Row, y: &Row) {
    let (mut va, mut vb, mut vc, mut vd) = (v[a], v[b], v[c], v[d]);
    for lane in 0..LANES {
        va[lane] = va[lane].wrapping_add(vb[lane]).wrapping_add(x[lane]);
        vd[lane] = (vd[lane] ^ va[lane]).rotate_right(16);
        vc[lane] = vc[lane].wrapping_add(vd[lane]);
        vb[lane] = (vb[lane] ^ vc[lane]).rotate_right(12);
        va[lane] = va[lane].wrapping_add(vb[lane]).wrapping_add(y[lane]);
        vd[lane] = (vd[lane] ^ va[lane]).rotate_right(8);
        vc[lane] = vc[lane].wrapping_add(vd[lane]);
        vb[lane] = (vb[lane] ^ vc[lane]).rotate_right(7);
    }
    (v[a], v[b], v[c], v[d]) = (va, vb, vc, vd);
}

/// The compression with AVX2 intrinsics: one 256-bit register holds a word of all eight
/// states.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Block, IV, LANES, Row, SCHEDULE};
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_extract_epi32, _mm256_or_si256,
        _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_setr_epi8, _mm256_setr_epi32,
        _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_unpackhi_epi32,
        _mm256_unpackhi_epi64, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64, _mm256_xor_si256,
    };

    /// One round: the quarter-round on the columns, then on the diagonals. A macro, so
    /// it is always inlined into the `#[target_feature]` function.
    macro_rules! round {
        ($v:ident, $m:ident, $s:expr, $r16:ident, $r8:ident) => {{
            let s = $s;
            g!($v, 0, 4, 8, 12, $m[s[0]], $m[s[1]], $r16, $r8);
            g!($v, 1, 5, 9, 13, $m[s[2]], $m[s[3]], $r16, $r8);
            g!($v, 2, 6, 10, 14, $m[s[4]], $m[s[5]], $r16, $r8);
            g!($v, 3, 7, 11, 15, $m[s[6]], $m[s[7]], $r16, $r8);
            g!($v, 0, 5, 10, 15, $m[s[8]], $m[s[9]], $r16, $r8);
            g!($v, 1, 6, 11, 12, $m[s[10]], $m[s[11]], $r16, $r8);
            g!($v, 2, 7, 8, 13, $m[s[12]], $m[s[13]], $r16, $r8);
            g!($v, 3, 4, 9, 14, $m[s[14]], $m[s[15]], $r16, $r8);
        }};
    }

    /// The quarter-round on state rows `a, b, c, d`, every lane at once.
    macro_rules! g {
        ($v:ident, $a:literal, $b:literal, $c:literal, $d:literal, $x:expr, $y:expr,
         $r16:ident, $r8:ident) => {
            $v[$a] = _mm256_add_epi32(_mm256_add_epi32($v[$a], $v[$b]), $x);
            $v[$d] = _mm256_shuffle_epi8(_mm256_xor_si256($v[$d], $v[$a]), $r16);
            $v[$c] = _mm256_add_epi32($v[$c], $v[$d]);
            $v[$b] = rotate_right!(_mm256_xor_si256($v[$b], $v[$c]), 12, 20);
            $v[$a] = _mm256_add_epi32(_mm256_add_epi32($v[$a], $v[$b]), $y);
            $v[$d] = _mm256_shuffle_epi8(_mm256_xor_si256($v[$d], $v[$a]), $r8);
            $v[$c] = _mm256_add_epi32($v[$c], $v[$d]);
            $v[$b] = rotate_right!(_mm256_xor_si256($v[$b], $v[$c]), 7, 25);
        };
    }

    macro_rules! rotate_right {
        ($x:expr, $right:literal, $left:literal) => {{
            let x = $x;
            _mm256_or_si256(
                _mm256_srli_epi32::<$right>(x),
                _mm256_slli_epi32::<$left>(x),
            )
        }};
    }

    /// [`super::compress`] on AVX2. Only called through `Backend::Avx2`, which exists only
    /// after `is_x86_feature_detected!("avx2")` said yes.
    pub(super) fn compress(
        cv: &mut [Row; 8],
        blocks: &[&Block; LANES],
        block_len: &Row,
        flags: &Row,
    ) {
        #[expect(
            unsafe_code,
            reason = "a #[target_feature] function is unsafe to call from code compiled \
                      without that feature"
        )]
        // SAFETY: `Backend::Avx2` is only made after the CPU reported AVX2.
        unsafe {
            compress_avx2(cv, blocks, block_len, flags)
        }
    }

    #[target_feature(enable = "avx2")]
    fn compress_avx2(cv: &mut [Row; 8], blocks: &[&Block; LANES], block_len: &Row, flags: &Row) {
        // No closures here: they would not inherit the target feature.
        let mut low = [_mm256_set1_epi32(0); LANES];
        let mut high = [_mm256_set1_epi32(0); LANES];
        for lane in 0..LANES {
            low[lane] = load_bytes(&blocks[lane][..32]);
            high[lane] = load_bytes(&blocks[lane][32..]);
        }
        let (low, high) = (transpose(low), transpose(high));
        let m = [
            low[0], low[1], low[2], low[3], low[4], low[5], low[6], low[7], high[0], high[1],
            high[2], high[3], high[4], high[5], high[6], high[7],
        ];
        let mut v = [_mm256_set1_epi32(0); 16];
        for word in 0..8 {
            v[word] = load(&cv[word]);
        }
        for word in 0..4 {
            v[8 + word] = _mm256_set1_epi32(IV[word] as i32);
        }
        v[14] = load(block_len);
        v[15] = load(flags);
        let (rotate_16, rotate_8) = (byte_mask(ROTATE_16), byte_mask(ROTATE_8));
        // Unrolled, so every message index is a constant.
        round!(v, m, SCHEDULE[0], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[1], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[2], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[3], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[4], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[5], rotate_16, rotate_8);
        round!(v, m, SCHEDULE[6], rotate_16, rotate_8);
        for word in 0..8 {
            cv[word] = store(_mm256_xor_si256(v[word], v[word + 8]));
        }
    }

    /// Byte shuffles that rotate each 32-bit word right by 16 and by 8 bits.
    const ROTATE_16: [i8; 16] = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
    const ROTATE_8: [i8; 16] = [1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12];

    /// `_mm256_shuffle_epi8` mask from a 16-byte table used in both halves.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn byte_mask(table: [i8; 16]) -> __m256i {
        let [
            t0,
            t1,
            t2,
            t3,
            t4,
            t5,
            t6,
            t7,
            t8,
            t9,
            t10,
            t11,
            t12,
            t13,
            t14,
            t15,
        ] = table;
        _mm256_setr_epi8(
            t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15, t0, t1, t2, t3,
            t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15,
        )
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(row: &Row) -> __m256i {
        let w = |i: usize| row[i] as i32;
        _mm256_setr_epi32(w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7))
    }

    /// Eight little-endian words from 32 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn load_bytes(bytes: &[u8]) -> __m256i {
        let word = |i: usize| {
            let at = 4 * i;
            i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        _mm256_setr_epi32(
            word(0),
            word(1),
            word(2),
            word(3),
            word(4),
            word(5),
            word(6),
            word(7),
        )
    }

    /// Rows of eight words (one row per lane) into eight words (one vector per word).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
        // Pairs of lanes interleaved by word, then by word pair, then 128-bit halves
        // swapped into place.
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn store(vector: __m256i) -> Row {
        [
            _mm256_extract_epi32::<0>(vector) as u32,
            _mm256_extract_epi32::<1>(vector) as u32,
            _mm256_extract_epi32::<2>(vector) as u32,
            _mm256_extract_epi32::<3>(vector) as u32,
            _mm256_extract_epi32::<4>(vector) as u32,
            _mm256_extract_epi32::<5>(vector) as u32,
            _mm256_extract_epi32::<6>(vector) as u32,
            _mm256_extract_epi32::<7>(vector) as u32,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(prefix: u8, body: &[u8]) -> Hash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[prefix]);
        hasher.update(body);
        *hasher.finalize().as_bytes()
    }

    #[test]
    fn every_length_matches_the_blake3_crate() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 7) as u8).collect();
        let bodies: Vec<&[u8]> = (0..data.len()).map(|len| &data[..len]).collect();
        let mut out = vec![[0u8; 32]; bodies.len()];
        hash_prefixed(0x00, &bodies, &mut out);
        for (body, hash) in bodies.iter().zip(&out) {
            assert_eq!(*hash, expected(0x00, body), "length {}", body.len());
        }
    }

    #[test]
    fn mixed_lengths_in_any_order_match() {
        let data: Vec<u8> = (0..MAX_INPUT as u32).map(|i| (i * 17 + 3) as u8).collect();
        for count in [0usize, 1, 3, 8, 9, 17, 100] {
            let bodies: Vec<&[u8]> = (0..count)
                .map(|i| {
                    let start = (i * 37) % 200;
                    let len = (i * 331 + 64) % (MAX_INPUT - start);
                    &data[start..start + len]
                })
                .collect();
            let mut out = vec![[0u8; 32]; count];
            hash_prefixed(0x01, &bodies, &mut out);
            for (body, hash) in bodies.iter().zip(&out) {
                assert_eq!(*hash, expected(0x01, body));
            }
        }
    }

    #[test]
    fn the_portable_path_matches_too() {
        let data: Vec<u8> = (0..MAX_INPUT as u32).map(|i| (i * 13 + 1) as u8).collect();
        let bodies: Vec<&[u8]> = (0..MAX_INPUT).step_by(7).map(|len| &data[..len]).collect();
        let order: Vec<u32> = (0..bodies.len() as u32).collect();
        let mut out = vec![[0u8; 32]; bodies.len()];
        hash_sorted(
            Backend::Portable,
            Start::Prefix(0x00),
            &bodies,
            &order,
            &mut out,
        );
        for (body, hash) in bodies.iter().zip(&out) {
            assert_eq!(*hash, expected(0x00, body));
        }
        let keys: Vec<[u8; 32]> = (0..bodies.len()).map(|i| [i as u8; 32]).collect();
        hash_sorted(
            Backend::Portable,
            Start::Keyed(&keys),
            &bodies,
            &order,
            &mut out,
        );
        for ((body, key), hash) in bodies.iter().zip(&keys).zip(&out) {
            assert_eq!(hash, blake3::keyed_hash(key, body).as_bytes());
        }
    }

    #[test]
    fn keyed_hashes_match_the_blake3_crate_at_every_length() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 29 + 5) as u8).collect();
        let messages: Vec<&[u8]> = (0..data.len()).map(|len| &data[..len]).collect();
        // Every message under another key, so a key taken from the wrong lane shows.
        let keys: Vec<[u8; 32]> = (0..messages.len())
            .map(|i| *blake3::hash(&(i as u64).to_le_bytes()).as_bytes())
            .collect();
        let mut out = vec![[0u8; 32]; messages.len()];
        keyed_hashes(&keys, &messages, &mut out);
        for ((message, key), hash) in messages.iter().zip(&keys).zip(&out) {
            assert_eq!(
                hash,
                blake3::keyed_hash(key, message).as_bytes(),
                "length {}",
                message.len()
            );
        }
        for count in [0usize, 1, 7, 9] {
            let mut out = vec![[0u8; 32]; count];
            keyed_hashes(&keys[..count], &messages[300..300 + count], &mut out);
            for i in 0..count {
                assert_eq!(
                    &out[i],
                    blake3::keyed_hash(&keys[i], messages[300 + i]).as_bytes()
                );
            }
        }
    }
}
