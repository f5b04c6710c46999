//! Layer compression and decompression.
//!
//! gzip is compressed pigz-style: the stream is cut into fixed 1 MiB blocks, each block is
//! deflated on its own by a pool of threads and ends with a sync flush, the blocks are written
//! in order, and the CRC-32s are combined. The block size, not the thread count, decides the
//! bytes, so the output is the same on a machine with one core or sixty-four. The deflate
//! backend is miniz_oxide, whose level 1 does not expand float data (zlib-rs and zlib-ng at
//! level 1 use static Huffman trees only and do).
//!
//! zstd runs libzstd's multi-threaded mode with a fixed 2 MiB job size: the job boundaries,
//! not the number of workers, decide the bytes (a test holds it to that), and the job size
//! bounds memory. With two workers at level 3, the default 8 MiB jobs peak at about 72 MiB,
//! 4 MiB jobs at 40 MiB, 2 MiB jobs at 22 MiB, all at the same speed (about 1 GB/s here).
//! Single-threaded mode writes other bytes and is never used.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use flate2::{Compress, Compression as Level, FlushCompress};
use modeloci_spec::LayerEncoding;

/// The uncompressed size of one gzip block.
pub(crate) const GZIP_BLOCK: usize = 1 << 20;

/// The uncompressed size of one zstd job.
const ZSTD_JOB: u32 = 2 << 20;

/// gzip header: deflate, no flags, mtime 0, no extra flags, OS "unknown".
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty, fixed-Huffman deflate block: ends a stream whose blocks all end in a
/// sync flush.
const DEFLATE_END: [u8; 2] = [0x03, 0x00];

/// How to compress a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Identity,
    /// gzip; with `literals`, blocks are Huffman-coded bytes without LZ matching
    /// ([`crate::codec::huffman`]), else deflated by miniz_oxide at `level`.
    Gzip {
        level: u32,
        literals: bool,
    },
    Zstd {
        level: i32,
    },
}

impl Codec {
    pub(crate) fn encoding(self) -> LayerEncoding {
        match self {
            Self::Identity => LayerEncoding::Tar,
            Self::Gzip { .. } => LayerEncoding::TarGzip,
            Self::Zstd { .. } => LayerEncoding::TarZstd,
        }
    }
}

/// Compresses all of `input` into `out` and returns the number of bytes read from `input`.
pub(crate) fn compress(
    codec: Codec,
    input: &mut dyn Read,
    out: &mut dyn Write,
    threads: usize,
) -> io::Result<u64> {
    match codec {
        Codec::Identity => copy(input, out),
        Codec::Gzip { level, literals } => gzip(input, out, level, literals, threads),
        Codec::Zstd { level } => {
            let mut encoder = zstd::stream::Encoder::new(out, level)?;
            encoder.multithread(u32::try_from(threads.max(1)).unwrap_or(1))?;
            encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
            encoder.include_checksum(true)?;
            let n = copy(input, &mut encoder)?;
            encoder.finish()?;
            Ok(n)
        }
    }
}

/// Copies with a large buffer.
pub(crate) fn copy(input: &mut dyn Read, out: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = read_block(input, &mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A reader that decompresses a layer blob of the given encoding.
pub(crate) fn decoder<'a>(
    encoding: LayerEncoding,
    blob: impl Read + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match encoding {
        LayerEncoding::TarGzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 16, blob),
        )),
        LayerEncoding::TarZstd => Box::new(zstd::stream::read::Decoder::new(blob)?),
        _ => Box::new(blob),
    })
}

/// Fills `buf` as far as the input allows; returns the bytes read (fewer only at the end).
/// Blocks are always full before the end, so the block boundaries, and the bytes written,
/// do not depend on how the input happens to split its reads.
pub(crate) fn read_block(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    modeloci_digest::read_full(input, buf)
}

/// The samples of a file that the choices below look at: up to three 256 KiB pieces (start,
/// middle, end), or the whole file when it is small.
fn samples(path: &std::path::Path, size: u64) -> io::Result<Vec<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    const SAMPLE: u64 = 256 << 10;
    let file = crate::source::open_regular(path)?;
    let ranges = if size <= 3 * SAMPLE {
        vec![(0, size)]
    } else {
        vec![
            (0, SAMPLE),
            (size / 2 - SAMPLE / 2, SAMPLE),
            (size - SAMPLE, SAMPLE),
        ]
    };
    ranges
        .into_iter()
        .map(|(offset, len)| {
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            file.read_exact_at(&mut buf, offset)?;
            Ok(buf)
        })
        .collect()
}

/// Whether literals-only coding suits a file: when LZ matching at level 1 saves less than
/// 2 % more than coding the bytes alone, as on model weights. Decided from samples, so the
/// same content always gets the same choice.
pub(crate) fn suits_literals(path: &std::path::Path, size: u64) -> io::Result<bool> {
    if size < 64 << 10 {
        return Ok(false);
    }
    let mut compressor = Compress::new(Level::new(1), false);
    let mut out = Vec::new();
    let (mut matched, mut literals) = (0u64, 0u64);
    for sample in samples(path, size)? {
        deflate_block(&mut compressor, &sample, &mut out)?;
        matched += out.len() as u64;
        literals += crate::codec::huffman::estimate(&sample);
    }
    Ok(literals * 100 <= matched * 102)
}

/// Whether a file is worth compressing: deflates three 256 KiB samples (start, middle, end)
/// at level 1 and asks for at least 10 % saved. Weights stored as f32/f16 save less and are
/// stored; bf16 weights, text and JSON save more and are compressed. Files under 64 KiB are
/// always compressed: the tar framing alone makes that worth it.
pub(crate) fn compresses_well(path: &std::path::Path, size: u64) -> io::Result<bool> {
    if size < 64 << 10 {
        return Ok(true);
    }
    let mut compressor = Compress::new(Level::new(1), false);
    let mut out = Vec::new();
    let (mut input, mut output) = (0u64, 0u64);
    for sample in samples(path, size)? {
        deflate_block(&mut compressor, &sample, &mut out)?;
        input += sample.len() as u64;
        output += out.len() as u64;
    }
    Ok(output * 10 < input * 9)
}

struct Block {
    data: Vec<u8>,
    crc: u32,
}

fn deflate_block(compressor: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    compressor.reset();
    out.clear();
    out.reserve(input.len() + input.len() / 16 + 1024);
    let mut consumed = 0;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let before = compressor.total_in();
        compressor
            .compress_vec(&input[consumed..], out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        consumed += (compressor.total_in() - before) as usize;
        // The flush is complete once all input is in and the compressor left room unused.
        if consumed == input.len() && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

/// One block's deflate data, ending in a sync flush.
fn encode_block(
    compressor: &mut Compress,
    literals: bool,
    input: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    if literals {
        out.clear();
        crate::codec::huffman::deflate_literals(input, out);
        Ok(())
    } else {
        deflate_block(compressor, input, out)
    }
}

fn gzip(
    input: &mut dyn Read,
    out: &mut dyn Write,
    level: u32,
    literals: bool,
    threads: usize,
) -> io::Result<u64> {
    out.write_all(&GZIP_HEADER)?;
    let mut crc = crc32fast::Hasher::new();
    let mut total = 0u64;
    let mut write_block = |block: &Block, len: usize| -> io::Result<()> {
        out.write_all(&block.data)?;
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            block.crc, len as u64,
        ));
        total += len as u64;
        Ok(())
    };

    let mut first = vec![0u8; GZIP_BLOCK];
    let n = read_block(input, &mut first)?;
    if n < GZIP_BLOCK || threads <= 1 {
        // Small input, or one thread: no pool.
        let mut compressor = Compress::new(Level::new(level), false);
        let mut block = Block {
            data: Vec::new(),
            crc: 0,
        };
        let mut buf = first;
        let mut n = n;
        while n > 0 {
            encode_block(&mut compressor, literals, &buf[..n], &mut block.data)?;
            block.crc = crc32fast::hash(&buf[..n]);
            write_block(&block, n)?;
            n = read_block(input, &mut buf)?;
        }
    } else {
        parallel_blocks(input, first, level, literals, threads, &mut write_block)?;
    }
    out.write_all(&DEFLATE_END)?;
    out.write_all(&crc.finalize().to_le_bytes())?;
    // ISIZE is the length modulo 2^32.
    out.write_all(&(total as u32).to_le_bytes())?;
    Ok(total)
}

type Job = (u64, Vec<u8>);
type Done = (u64, Vec<u8>, io::Result<Block>);

/// Deflates blocks on `threads` workers and hands them to `write` in order. At most
/// `2 * threads` blocks are in flight, so memory stays bounded whatever the input size.
fn parallel_blocks(
    input: &mut dyn Read,
    first: Vec<u8>,
    level: u32,
    literals: bool,
    threads: usize,
    write: &mut dyn FnMut(&Block, usize) -> io::Result<()>,
) -> io::Result<()> {
    thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || deflate_jobs(&job_rx, &done_tx, level, literals));
        }
        drop(done_tx);

        let stopped = || io::Error::other("compression worker stopped");
        let max_in_flight = 2 * threads;
        let mut feed = Feed {
            input,
            next: Some(first),
            spare: Vec::new(),
            eof: false,
        };
        let mut pending: BTreeMap<u64, (usize, Block)> = BTreeMap::new();
        let (mut next_seq, mut next_write, mut in_flight) = (0u64, 0u64, 0usize);
        loop {
            while in_flight < max_in_flight {
                let Some(buf) = feed.next_block()? else { break };
                job_tx.send((next_seq, buf)).map_err(|_| stopped())?;
                next_seq += 1;
                in_flight += 1;
            }
            if in_flight == 0 {
                return Ok(());
            }
            let (seq, data, result) = done_rx.recv().map_err(|_| stopped())?;
            pending.insert(seq, (data.len(), result?));
            feed.spare.push(data);
            while let Some((len, block)) = pending.remove(&next_write) {
                write(&block, len)?;
                next_write += 1;
                in_flight -= 1;
            }
        }
    })
}

/// A worker of [`parallel_blocks`]: deflates the blocks it takes from `jobs` until they
/// stop coming, or nobody waits for the results.
fn deflate_jobs(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    done: &mpsc::Sender<Done>,
    level: u32,
    literals: bool,
) {
    let mut compressor = Compress::new(Level::new(level), false);
    loop {
        let job = jobs
            .lock()
            .map_err(|_| ())
            .and_then(|rx| rx.recv().map_err(|_| ()));
        let Ok((seq, data)) = job else { return };
        let mut out = Vec::new();
        let result = encode_block(&mut compressor, literals, &data, &mut out).map(|()| Block {
            data: out,
            crc: crc32fast::hash(&data),
        });
        if done.send((seq, data, result)).is_err() {
            return;
        }
    }
}

/// The input of [`parallel_blocks`], in blocks of [`GZIP_BLOCK`] bytes (the last one
/// shorter), read into buffers the workers gave back.
struct Feed<'a> {
    input: &'a mut dyn Read,
    /// The first block, read before.
    next: Option<Vec<u8>>,
    /// Buffers of blocks already written.
    spare: Vec<Vec<u8>>,
    eof: bool,
}

impl Feed<'_> {
    /// The next block, or `None` at the end of the input.
    fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.eof {
            return Ok(None);
        }
        let mut buf = match self.next.take() {
            Some(buf) => buf,
            None => {
                let mut buf = self.spare.pop().unwrap_or_else(|| vec![0u8; GZIP_BLOCK]);
                buf.resize(GZIP_BLOCK, 0);
                let n = read_block(self.input, &mut buf)?;
                buf.truncate(n);
                buf
            }
        };
        if buf.is_empty() {
            self.eof = true;
            return Ok(None);
        }
        if buf.len() < GZIP_BLOCK {
            self.eof = true;
        }
        buf.shrink_to(GZIP_BLOCK);
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a slow ramp with noise.
        let mut x = 0x2545_f491_u32;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                ((i / 97) as u8).wrapping_add((x % 7) as u8)
            })
            .collect()
    }

    fn roundtrip(codec: Codec, data: &[u8], threads: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let n = compress(codec, &mut &data[..], &mut out, threads).unwrap();
        assert_eq!(n, data.len() as u64);
        let mut back = Vec::new();
        decoder(codec.encoding(), &out[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data, "{codec:?} with {threads} threads");
        out
    }

    #[test]
    fn gzip_round_trips_and_ignores_thread_count() {
        for len in [
            0,
            1,
            GZIP_BLOCK - 1,
            GZIP_BLOCK,
            GZIP_BLOCK + 1,
            5 * GZIP_BLOCK + 123,
        ] {
            let data = sample(len);
            let one = roundtrip(
                Codec::Gzip {
                    level: 1,
                    literals: false,
                },
                &data,
                1,
            );
            let two = roundtrip(
                Codec::Gzip {
                    level: 1,
                    literals: false,
                },
                &data,
                2,
            );
            let four = roundtrip(
                Codec::Gzip {
                    level: 1,
                    literals: false,
                },
                &data,
                4,
            );
            assert_eq!(one, two, "len {len}");
            assert_eq!(one, four, "len {len}");
            assert_eq!(&one[..10], &GZIP_HEADER);
        }
    }

    #[test]
    fn gzip_output_is_read_by_system_gzip() {
        let data = sample(3 * GZIP_BLOCK + 7);
        for literals in [false, true] {
            let gz = roundtrip(Codec::Gzip { level: 6, literals }, &data, 2);
            let mut child = std::process::Command::new("gzip")
                .args(["-dc"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("gzip is on every Debian machine");
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || stdin.write_all(&gz));
            let output = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            assert!(output.status.success(), "literals: {literals}");
            assert_eq!(output.stdout, data, "literals: {literals}");
        }
    }

    #[test]
    fn literals_only_gzip_round_trips_and_ignores_thread_count() {
        for len in [0, 5, GZIP_BLOCK, 3 * GZIP_BLOCK + 11] {
            let data = sample(len);
            let codec = Codec::Gzip {
                level: 1,
                literals: true,
            };
            let one = roundtrip(codec, &data, 1);
            assert_eq!(one, roundtrip(codec, &data, 3), "len {len}");
        }
    }

    #[test]
    fn zstd_round_trips_and_ignores_thread_count() {
        let data = sample(12 * GZIP_BLOCK);
        let one = roundtrip(Codec::Zstd { level: 3 }, &data, 1);
        assert_eq!(one, roundtrip(Codec::Zstd { level: 3 }, &data, 4));
        roundtrip(Codec::Zstd { level: 3 }, &[], 2);
    }

    /// A disk that fills up after `room` bytes.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_that_fails_midway_is_an_error_on_every_codec_and_thread_count() {
        let data = sample(9 * GZIP_BLOCK + 123);
        for codec in [
            Codec::Identity,
            Codec::Gzip {
                level: 1,
                literals: false,
            },
            Codec::Gzip {
                level: 1,
                literals: true,
            },
            Codec::Gzip {
                level: 6,
                literals: false,
            },
            Codec::Zstd { level: 1 },
        ] {
            for threads in [1, 2, 4] {
                for room in [0, 1, 4096, 3 * GZIP_BLOCK] {
                    let err = compress(codec, &mut &data[..], &mut Full { room }, threads)
                        .expect_err("the full disk is reported");
                    assert_eq!(
                        err.kind(),
                        io::ErrorKind::StorageFull,
                        "{codec:?}, {threads} threads, room for {room}: {err}"
                    );
                }
            }
        }
    }
}
