//! Literals-only deflate: one dynamic-Huffman block of byte codes per call.
//!
//! Model weights compress by entropy coding, not by repetition: bf16 and f32 values repeat
//! their exponent bytes, hardly ever a run of several bytes. LZ matching (what deflate
//! levels 1-9 spend their time on) then finds next to nothing, and on bf16 the plain byte
//! code saves slightly more than miniz_oxide's level 1. This encoder skips matching: it counts
//! the bytes, builds a length-limited canonical Huffman code, and writes one block, several
//! times faster than level 1. [`crate::codec::compress`] picks it per file from a sample, only where
//! matching would save less than 2 %.
//!
//! The output is standard RFC 1951 deflate that any inflater reads.

/// Codes of the literal/length alphabet are at most this long (RFC 1951).
const MAX_BITS: u8 = 15;
/// Codes of the code-length alphabet are at most this long.
const MAX_CL_BITS: u8 = 7;
/// End of block.
const EOB: usize = 256;
/// The order in which code-length code lengths are sent.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Appends bits least-significant first, as deflate packs them.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            bits: 0,
        }
    }

    #[inline]
    fn put(&mut self, value: u32, count: u8) {
        self.acc |= u64::from(value) << self.bits;
        self.bits += u32::from(count);
        if self.bits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.bits -= 32;
        }
    }

    /// Pads to a byte boundary with zero bits and writes what is pending.
    fn align(&mut self) {
        while self.bits > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits = self.bits.saturating_sub(8);
        }
        self.acc = 0;
    }
}

/// Huffman code lengths for `counts`, none longer than `limit`; symbols with a zero count
/// get length 0. Deterministic: ties break by symbol.
fn code_lengths(counts: &[u64], limit: u8) -> Vec<u8> {
    let mut counts: Vec<u64> = counts.to_vec();
    loop {
        let lengths = huffman_lengths(&counts);
        if lengths.iter().all(|&l| l <= limit) {
            return lengths;
        }
        // Flatten the distribution and try again: halving keeps the order of frequencies,
        // and a code of the limit's depth always exists once the counts are close enough.
        for c in counts.iter_mut().filter(|c| **c > 0) {
            *c = (*c >> 1).max(1);
        }
    }
}

fn huffman_lengths(counts: &[u64]) -> Vec<u8> {
    let mut lengths = vec![0u8; counts.len()];
    let used: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
    match used.len() {
        0 => return lengths,
        1 => {
            lengths[used[0]] = 1;
            return lengths;
        }
        _ => {}
    }
    // Nodes: leaves first, then internal nodes; parent links give each leaf its depth.
    let mut weight: Vec<u64> = used.iter().map(|&s| counts[s]).collect();
    let mut parent: Vec<usize> = vec![usize::MAX; used.len()];
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> = (0..used.len())
        .map(|i| std::cmp::Reverse((weight[i], i)))
        .collect();
    while heap.len() > 1 {
        let std::cmp::Reverse((wa, a)) = heap.pop().expect("two nodes");
        let std::cmp::Reverse((wb, b)) = heap.pop().expect("two nodes");
        let node = weight.len();
        weight.push(wa + wb);
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(std::cmp::Reverse((wa + wb, node)));
    }
    for (i, &symbol) in used.iter().enumerate() {
        let (mut depth, mut n) = (0u8, i);
        while parent[n] != usize::MAX {
            n = parent[n];
            depth = depth.saturating_add(1);
        }
        lengths[symbol] = depth;
    }
    lengths
}

/// Canonical codes for `lengths` (RFC 1951 3.2.2), bit-reversed for LSB-first packing.
fn canonical_codes(lengths: &[u8]) -> Vec<u32> {
    let mut bl_count = [0u32; 16];
    for &l in lengths {
        if l > 0 {
            bl_count[usize::from(l)] += 1;
        }
    }
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for bits in 1..16 {
        code = (code + bl_count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            c.reverse_bits() >> (32 - u32::from(l))
        })
        .collect()
}

/// Run-length codes for a sequence of code lengths: (symbol, extra bits, extra count).
fn run_length(lengths: &[u8]) -> Vec<(u8, u8, u8)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lengths.len() {
        let l = lengths[i];
        let run = lengths[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 11 {
            let n = run.min(138);
            out.push((18, (n - 11) as u8, 7));
            i += n;
        } else if l == 0 && run >= 3 {
            out.push((17, (run - 3) as u8, 3));
            i += run;
        } else if l != 0 && run >= 4 {
            out.push((l, 0, 0));
            let n = (run - 1).min(6);
            out.push((16, (n - 3) as u8, 2));
            i += 1 + n;
        } else {
            out.push((l, 0, 0));
            i += 1;
        }
    }
    out
}

/// The size in bits of `input` coded with `lengths`.
fn coded_bits(histogram: &[u64; 256], lengths: &[u8]) -> u64 {
    histogram
        .iter()
        .zip(lengths)
        .map(|(&n, &l)| n * u64::from(l))
        .sum()
}

/// Estimates the literals-only size of `input` in bytes (payload only): for choosing
/// between this encoder and LZ matching.
pub(crate) fn estimate(input: &[u8]) -> u64 {
    let histogram = histogram(input);
    let mut counts: Vec<u64> = histogram.to_vec();
    counts.push(1);
    let lengths = code_lengths(&counts, MAX_BITS);
    coded_bits(&histogram, &lengths).div_ceil(8) + 64
}

fn histogram(input: &[u8]) -> [u64; 256] {
    // Four tables break the dependency chain on repeated bytes.
    let mut tables = [[0u64; 256]; 4];
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        tables[0][usize::from(c[0])] += 1;
        tables[1][usize::from(c[1])] += 1;
        tables[2][usize::from(c[2])] += 1;
        tables[3][usize::from(c[3])] += 1;
    }
    for &b in chunks.remainder() {
        tables[0][usize::from(b)] += 1;
    }
    let mut out = [0u64; 256];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = tables.iter().map(|t| t[i]).sum();
    }
    out
}

/// Appends `input` as non-final deflate block(s) followed by a sync flush (an empty stored
/// block), like a zlib `Z_SYNC_FLUSH`: the output can be followed by more blocks.
pub(crate) fn deflate_literals(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() + input.len() / 64 + 128);
    let mut w = BitWriter::new(out);
    if !input.is_empty() {
        let histogram = histogram(input);
        let mut counts: Vec<u64> = histogram.to_vec();
        counts.push(1); // EOB
        let lengths = code_lengths(&counts, MAX_BITS);
        let header = dynamic_header(&lengths);
        let huffman_bits = header.1 + coded_bits(&histogram, &lengths) + u64::from(lengths[EOB]);
        // Stored blocks cost 5 bytes per 65535 and need byte alignment.
        let stored_bits = input.len() as u64 * 8 + input.len().div_ceil(65_535) as u64 * 40 + 8;
        if huffman_bits < stored_bits {
            let codes = canonical_codes(&lengths);
            write_dynamic_header(&mut w, &header.0);
            for &b in input {
                let s = usize::from(b);
                w.put(codes[s], lengths[s]);
            }
            w.put(codes[EOB], lengths[EOB]);
        } else {
            for chunk in input.chunks(65_535) {
                w.put(0, 1); // not final
                w.put(0, 2); // stored
                w.align();
                let len = chunk.len() as u16;
                w.out.extend_from_slice(&len.to_le_bytes());
                w.out.extend_from_slice(&(!len).to_le_bytes());
                w.out.extend_from_slice(chunk);
            }
        }
    }
    // Sync flush: an empty stored block, byte aligned.
    w.put(0, 1);
    w.put(0, 2);
    w.align();
    w.out.extend_from_slice(&[0, 0, 0xff, 0xff]);
}

/// What the dynamic block header needs, and its size in bits.
struct Header {
    cl_lengths: [u8; 19],
    cl_codes: Vec<u32>,
    runs: Vec<(u8, u8, u8)>,
    hclen: usize,
}

fn dynamic_header(lengths: &[u8]) -> (Header, u64) {
    // 257 literal/length codes (bytes and end of block), one distance code of length 0.
    let mut all: Vec<u8> = lengths.to_vec();
    all.push(0);
    let runs = run_length(&all);
    let mut cl_counts = [0u64; 19];
    for &(sym, _, _) in &runs {
        cl_counts[usize::from(sym)] += 1;
    }
    let cl = code_lengths(&cl_counts, MAX_CL_BITS);
    let mut cl_lengths = [0u8; 19];
    cl_lengths.copy_from_slice(&cl);
    let cl_codes = canonical_codes(&cl_lengths);
    let hclen = CL_ORDER
        .iter()
        .rposition(|&s| cl_lengths[s] != 0)
        .map_or(4, |p| (p + 1).max(4));
    let bits = 3
        + 5
        + 5
        + 4
        + 3 * hclen as u64
        + runs
            .iter()
            .map(|&(s, _, n)| u64::from(cl_lengths[usize::from(s)]) + u64::from(n))
            .sum::<u64>();
    (
        Header {
            cl_lengths,
            cl_codes,
            runs,
            hclen,
        },
        bits,
    )
}

fn write_dynamic_header(w: &mut BitWriter<'_>, h: &Header) {
    w.put(0, 1); // not final
    w.put(2, 2); // dynamic Huffman
    w.put(0, 5); // HLIT: 257 codes
    w.put(0, 5); // HDIST: 1 code
    w.put((h.hclen - 4) as u32, 4);
    for &s in &CL_ORDER[..h.hclen] {
        w.put(u32::from(h.cl_lengths[s]), 3);
    }
    for &(sym, extra, count) in &h.runs {
        let s = usize::from(sym);
        w.put(h.cl_codes[s], h.cl_lengths[s]);
        if count > 0 {
            w.put(u32::from(extra), count);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Inflates raw deflate data with flate2 (miniz_oxide), appending a final empty block.
    fn inflate(mut deflated: Vec<u8>) -> Vec<u8> {
        deflated.extend_from_slice(&[0x03, 0x00]);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&deflated[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn xorshift(seed: u64, len: usize, f: impl Fn(u64) -> u8) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f(x)
            })
            .collect()
    }

    #[test]
    fn round_trips_every_kind_of_input() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("one byte", vec![42]),
            ("one symbol", vec![7; 100_000]),
            (
                "two symbols",
                (0..100_000)
                    .map(|i| if i % 3 == 0 { 1 } else { 200 })
                    .collect(),
            ),
            ("uniform random", xorshift(1, 1 << 20, |x| (x >> 24) as u8)),
            (
                "skewed",
                xorshift(2, 1 << 20, |x| (x % 7) as u8 * ((x >> 40) % 3 == 0) as u8),
            ),
            (
                "geometric",
                xorshift(3, 1 << 20, |x| (x.trailing_zeros() as u8).wrapping_mul(9)),
            ),
            (
                "text",
                b"the quick brown fox jumps over the lazy dog; ".repeat(5000),
            ),
        ];
        for (name, input) in cases {
            let mut out = Vec::new();
            deflate_literals(&input, &mut out);
            assert_eq!(inflate(out.clone()), input, "{name}");
            assert!(
                out.len() <= input.len() + input.len() / 65_535 * 5 + 128,
                "{name} expanded to {}",
                out.len()
            );
        }
    }

    #[test]
    fn lengths_stay_within_the_limit_for_fibonacci_counts() {
        // Fibonacci frequencies give the deepest Huffman trees.
        let mut counts = vec![0u64; 257];
        let (mut a, mut b) = (1u64, 1u64);
        for c in counts.iter_mut().take(40) {
            *c = a;
            (a, b) = (b, a + b);
        }
        let lengths = code_lengths(&counts, MAX_BITS);
        assert!(lengths.iter().all(|&l| l <= MAX_BITS));
        // Kraft: a complete prefix code.
        let kraft: f64 = lengths
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 2f64.powi(-i32::from(l)))
            .sum();
        assert!((kraft - 1.0).abs() < 1e-9, "{kraft}");
        let input: Vec<u8> = (0..40u8)
            .flat_map(|s| {
                std::iter::repeat_n(
                    s,
                    usize::try_from(counts[usize::from(s)].min(5000)).unwrap(),
                )
            })
            .collect();
        let mut out = Vec::new();
        deflate_literals(&input, &mut out);
        assert_eq!(inflate(out), input);
    }

    #[test]
    fn the_estimate_matches_the_output() {
        let input = xorshift(9, 1 << 20, |x| ((x >> 30) % 23) as u8);
        let mut out = Vec::new();
        deflate_literals(&input, &mut out);
        let estimate = estimate(&input);
        assert!(
            out.len() as u64 <= estimate + 16 && estimate <= out.len() as u64 + 128,
            "{} vs {estimate}",
            out.len()
        );
    }
}
