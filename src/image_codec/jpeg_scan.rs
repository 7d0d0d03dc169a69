//! A structural check of a baseline JPEG's entropy-coded data (ITU-T T.81, Annex F), run before
//! the pixels are decoded: every MCU the frame header (SOF) promises must be present in the scan.
//!
//! zune-jpeg, even in strict mode, treats a marker inside the scan (such as an EOI appended to a
//! file cut short) as the end of the data and fills the remaining MCUs from zero bits, reporting
//! success; a SOF that claims a frame far larger than its payload is decoded the same way. This
//! walk decodes the Huffman symbols of every block (T.81 F.2.2.1-F.2.2.3: the DC size category,
//! the AC run/size pairs and their extra bits), without dequantising or transforming anything,
//! and fails when the data ends, or a marker other than the expected RSTn arrives, before the
//! last MCU. Input: the whole JPEG file; output: `Ok` or a message naming what is missing.
//!
//! Only sequential Huffman frames (SOF0, SOF1) are walked; progressive (SOF2) and other frame
//! types, and files without their own Huffman tables (Motion-JPEG's implied tables), are left to
//! the decoder as before.

/// One Huffman table in the form of T.81 F.2.2.3: for each code length, the largest code, the
/// smallest code, and where its values start.
#[derive(Debug, Clone)]
struct Huffman {
    max_code: [i32; 17],
    min_code: [i32; 17],
    val_ptr: [usize; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Self {
        let mut max_code = [-1i32; 17];
        let mut min_code = [0i32; 17];
        let mut val_ptr = [0usize; 17];
        let mut code = 0i32;
        let mut k = 0usize;
        for len in 1..=16 {
            let n = usize::from(counts[len - 1]);
            if n > 0 {
                val_ptr[len] = k;
                min_code[len] = code;
                code += n as i32;
                k += n;
                max_code[len] = code - 1;
            }
            code <<= 1;
        }
        Self {
            max_code,
            min_code,
            val_ptr,
            values,
        }
    }
}

/// Bits of the entropy-coded segment, with byte stuffing (`FF 00`) removed. Stops at a marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    byte: u8,
    left: u8,
}

/// Why the bits stopped before the scan was complete.
enum Stop {
    /// A marker `FF xx` at this offset.
    Marker(u8, usize),
    End,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, Stop> {
        if self.left == 0 {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(Stop::End);
            };
            if b == 0xff {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    Some(&m) => return Err(Stop::Marker(m, self.pos)),
                    None => return Err(Stop::End),
                }
            } else {
                self.pos += 1;
            }
            self.byte = b;
            self.left = 8;
        }
        self.left -= 1;
        Ok(u32::from((self.byte >> self.left) & 1))
    }

    fn skip(&mut self, n: u8) -> Result<(), Stop> {
        for _ in 0..n {
            self.bit()?;
        }
        Ok(())
    }

    fn symbol(&mut self, table: &Huffman) -> Result<Option<u8>, Stop> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit()? as i32;
            if code <= table.max_code[len] {
                let i = table.val_ptr[len] + (code - table.min_code[len]) as usize;
                return Ok(table.values.get(i).copied());
            }
        }
        Ok(None)
    }

    /// Drops the bits left in the current byte (restart markers are byte-aligned).
    fn align(&mut self) {
        self.left = 0;
    }
}

#[derive(Debug, Clone, Copy)]
struct Component {
    id: u8,
    h: u8,
    v: u8,
}

struct Frame {
    width: u32,
    height: u32,
    components: Vec<Component>,
}

/// Checks that every scan of a sequential Huffman JPEG holds all the MCUs its frame header
/// promises. `Err` says where the data ran out.
pub fn check_complete(data: &[u8]) -> Result<(), String> {
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut frame: Option<Frame> = None;
    let mut restart_interval = 0u32;
    let mut pos = 2; // after SOI
    loop {
        // Markers may be preceded by fill bytes 0xFF.
        while data.get(pos) == Some(&0xff) && data.get(pos + 1) == Some(&0xff) {
            pos += 1;
        }
        let (Some(&0xff), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            // No further marker: the decoder reports what is wrong (or accepts a missing EOI).
            return Ok(());
        };
        pos += 2;
        match marker {
            0xd9 => return Ok(()),
            0xd0..=0xd7 | 0x01 | 0xd8 => continue,
            _ => {}
        }
        let len = match (data.get(pos), data.get(pos + 1)) {
            (Some(&a), Some(&b)) => usize::from(u16::from_be_bytes([a, b])),
            _ => return Ok(()),
        };
        let Some(segment) = data.get(pos + 2..pos + len.max(2)) else {
            return Err(format!(
                "marker FF {marker:02X} at byte {} claims {len} bytes, past the end of the data",
                pos - 2
            ));
        };
        pos += len.max(2);
        match marker {
            0xc4 => parse_dht(segment, &mut dc, &mut ac)?,
            0xdd if segment.len() >= 2 => {
                restart_interval = u32::from(u16::from_be_bytes([segment[0], segment[1]]));
            }
            0xc0 | 0xc1 => frame = Some(parse_sof(segment)?),
            // Progressive, lossless, arithmetic-coded: not walked here.
            0xc2 | 0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => return Ok(()),
            0xda => {
                let Some(frame) = &frame else {
                    return Ok(());
                };
                pos = walk_scan(data, pos, segment, frame, &dc, &ac, restart_interval)?;
            }
            _ => {}
        }
    }
}

fn parse_dht(
    mut s: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), String> {
    while !s.is_empty() {
        if s.len() < 17 {
            return Err("Huffman table segment (DHT) cut short".into());
        }
        let class = s[0] >> 4;
        let id = usize::from(s[0] & 0x0f);
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&s[1..17]);
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let Some(values) = s.get(17..17 + n) else {
            return Err("Huffman table segment (DHT) cut short".into());
        };
        if id < 4 {
            let table = Some(Huffman::new(&counts, values.to_vec()));
            if class == 0 {
                dc[id] = table;
            } else {
                ac[id] = table;
            }
        }
        s = &s[17 + n..];
    }
    Ok(())
}

fn parse_sof(s: &[u8]) -> Result<Frame, String> {
    if s.len() < 6 {
        return Err("frame header (SOF) cut short".into());
    }
    let height = u32::from(u16::from_be_bytes([s[1], s[2]]));
    let width = u32::from(u16::from_be_bytes([s[3], s[4]]));
    let n = usize::from(s[5]);
    let Some(specs) = s.get(6..6 + 3 * n) else {
        return Err("frame header (SOF) cut short".into());
    };
    let components = specs
        .chunks_exact(3)
        .map(|c| Component {
            id: c[0],
            h: (c[1] >> 4).max(1),
            v: (c[1] & 0x0f).max(1),
        })
        .collect();
    Ok(Frame {
        width,
        height,
        components,
    })
}

/// Walks one scan from `pos` (just after its SOS segment); returns the position of the marker
/// that follows it.
fn walk_scan(
    data: &[u8],
    pos: usize,
    sos: &[u8],
    frame: &Frame,
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    restart_interval: u32,
) -> Result<usize, String> {
    let ns = usize::from(*sos.first().unwrap_or(&0));
    let Some(specs) = sos.get(1..1 + 2 * ns) else {
        return Err("scan header (SOS) cut short".into());
    };
    // (component, DC table, AC table) of each scan component.
    let mut scan = Vec::with_capacity(ns);
    for spec in specs.chunks_exact(2) {
        let Some(c) = frame.components.iter().find(|c| c.id == spec[0]) else {
            return Ok(pos); // the decoder reports the unknown component
        };
        let (Some(Some(d)), Some(Some(a))) = (
            dc.get(usize::from(spec[1] >> 4)),
            ac.get(usize::from(spec[1] & 0x0f)),
        ) else {
            // No table of its own (Motion-JPEG's implied tables): left to the decoder.
            return Ok(pos);
        };
        scan.push((*c, d, a));
    }
    if scan.is_empty() || frame.width == 0 || frame.height == 0 {
        return Ok(pos);
    }
    let h_max = u64::from(frame.components.iter().map(|c| c.h).max().unwrap_or(1));
    let v_max = u64::from(frame.components.iter().map(|c| c.v).max().unwrap_or(1));
    let (w, h) = (u64::from(frame.width), u64::from(frame.height));
    // T.81 A.2: one component alone is coded block by block; several interleave in MCUs.
    let (mcus, blocks_per_mcu): (u64, Vec<u64>) = if scan.len() == 1 {
        let c = scan[0].0;
        let bw = (w * u64::from(c.h)).div_ceil(h_max).div_ceil(8);
        let bh = (h * u64::from(c.v)).div_ceil(v_max).div_ceil(8);
        (bw * bh, vec![1])
    } else {
        let mx = w.div_ceil(8 * h_max);
        let my = h.div_ceil(8 * v_max);
        (
            mx * my,
            scan.iter()
                .map(|(c, _, _)| u64::from(c.h) * u64::from(c.v))
                .collect(),
        )
    };
    let mut bits = Bits {
        data,
        pos,
        byte: 0,
        left: 0,
    };
    let stopped = |stop: Stop, done: u64| match stop {
        Stop::Marker(m, at) => format!(
            "the scan ends at marker FF {m:02X} (byte {at} of {}) after {done} of the {mcus} MCUs \
             the {}x{} frame header promises: the data was cut short or the header claims more \
             than the data holds",
            data.len(),
            frame.width,
            frame.height
        ),
        Stop::End => format!(
            "the data ends after {done} of the {mcus} MCUs the {}x{} frame header promises",
            frame.width, frame.height
        ),
    };
    let corrupt = |done: u64| format!("invalid Huffman code in MCU {done} of {mcus}");
    for done in 0..mcus {
        if restart_interval > 0 && done > 0 && done % u64::from(restart_interval) == 0 {
            bits.align();
            match (data.get(bits.pos), data.get(bits.pos + 1)) {
                (Some(0xff), Some(0xd0..=0xd7)) => bits.pos += 2,
                (Some(0xff), Some(&m)) => return Err(stopped(Stop::Marker(m, bits.pos), done)),
                _ => return Err(stopped(Stop::End, done)),
            }
        }
        for ((_, dc_table, ac_table), &n) in scan.iter().zip(&blocks_per_mcu) {
            for _ in 0..n {
                let size = bits
                    .symbol(dc_table)
                    .map_err(|s| stopped(s, done))?
                    .ok_or_else(|| corrupt(done))?;
                bits.skip(size.min(16)).map_err(|s| stopped(s, done))?;
                let mut k = 1;
                while k < 64 {
                    let rs = bits
                        .symbol(ac_table)
                        .map_err(|s| stopped(s, done))?
                        .ok_or_else(|| corrupt(done))?;
                    let (run, size) = (rs >> 4, rs & 0x0f);
                    if size == 0 {
                        if run != 15 {
                            break; // end of block
                        }
                        k += 16;
                        continue;
                    }
                    k += usize::from(run);
                    bits.skip(size).map_err(|s| stopped(s, done))?;
                    k += 1;
                }
            }
        }
    }
    Ok(bits.pos)
}
