//! The matrix product of the CPU path's wide convolutions (those the direct kernels do not take:
//! more than 32 output channels, a stride), for their forward and input-gradient products:
//! packed panels and a register-blocked kernel, written here so that every output is summed in
//! one fixed order whatever kernel runs.
//!
//! C (m×n) = A (m×k) · B (k×n), or C + A · B. The product runs in blocks of `KC` along k; within
//! a block each output's products are added one after another, k ascending, by fused
//! multiply-adds into a sum that starts at zero, and each block's sum is then added to C. The
//! kernels vectorize over outputs only (a vector holds neighbouring outputs, never pieces of one
//! sum), so the AVX2 + FMA kernel gives exactly what the portable kernel (`f32::mul_add`, slow
//! without FMA hardware, the reference the tests compare against) gives, bit for bit, and so will
//! any wider kernel keeping `KC`.
//!
//! The loops are the usual ones of a packed GEMM (Goto and van de Geijn): a KC×NC block of B is
//! copied into panels NR columns wide and an MC×KC block of A into panels MR rows high, each
//! laid out in the order the kernel reads, padded with zeros to whole panels; the kernel then
//! computes one MR×NR tile from one panel of each. Single-threaded: the callers run one image or
//! one chunk of images per thread.

mod tiles;

use super::isa::{self, Level};
use tiles::tile_portable;
#[cfg(target_arch = "x86_64")]
use tiles::{tile_avx2_fma, tile_pair_avx512};

/// Rows of a tile: 6 rows x 2 vectors of 8 = 12 of AVX2's 16 registers hold the sums.
pub const MR: usize = 6;
/// Columns of a tile.
pub const NR: usize = 16;
/// The block along k: a panel of A (6 KiB) and of B (16 KiB) together stay in L1. Every kernel
/// keeps it, since it fixes where the partial sums are added (the summation order).
const KC: usize = 256;
/// Rows of A packed at a time (a multiple of MR): 96 KiB, in L2.
const MC: usize = 96;
/// Columns of B packed at a time (a multiple of NR): a KC×NC block is 256 KiB, in L2 beside
/// A's (1024 measured slower on a 512 KiB L2).
const NC: usize = 256;

/// A matrix read through strides: element (i, j) is `data[i * row_stride + j * col_stride]`, so
/// a row-major matrix and its transpose are both views of the same slice.
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Strided { data, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns (its element (i, j) is the
    /// stored matrix's (j, i)).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Strided { data, row_stride: 1, col_stride: cols }
    }

    /// Whether (rows-1, cols-1) is inside `data`.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// Which tile kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512F: two neighbouring tiles at once, 6x32 sums in 12 registers (x86-64, detected
    /// at run time, and only when `LENET_CPU_KERNELS=avx512` asks for it: see `isa`; the lone
    /// tiles at C's edge run the AVX2 kernel).
    Avx512,
    /// AVX2 + FMA intrinsics (x86-64, detected at run time).
    Avx2Fma,
    /// Plain Rust with `f32::mul_add`: the same sums bit for bit, slowly without FMA hardware
    /// (the tests' reference; it takes its tiles in pairs, as AVX-512 does).
    Portable,
}

impl Kernel {
    /// The fastest kernel that may run here (`isa::level`), or None where none is faster than
    /// the `matrixmultiply` crate (which the callers use instead).
    pub fn best() -> Option<Kernel> {
        match isa::level() {
            Level::Avx512 => Some(Kernel::Avx512),
            Level::Avx2Fma => Some(Kernel::Avx2Fma),
            Level::Portable => None,
        }
    }

    /// The instruction set the kernel needs.
    fn level(self) -> Level {
        match self {
            Kernel::Avx512 => Level::Avx512,
            Kernel::Avx2Fma => Level::Avx2Fma,
            Kernel::Portable => Level::Portable,
        }
    }

    /// Whether `tile_pair` does two tiles at once.
    fn pairs(self) -> bool {
        matches!(self, Kernel::Avx512 | Kernel::Portable)
    }

    /// Two tiles side by side, 6x32, from one panel of A and two neighbouring panels of B, where
    /// the kernel has such a form; false (nothing done) where it does not.
    fn tile_pair(self, kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, add: bool) -> bool {
        assert!(a.len() >= kc * MR && b.len() >= 2 * kc * NR, "tile_pair: panels too short");
        assert!(ldc >= 2 * NR && (MR - 1) * ldc + 2 * NR <= c.len(), "tile_pair: C too short");
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `gemm` checked that the CPU has AVX-512F, and the asserts above keep every
            // access inside the panels and C.
            Kernel::Avx512 => unsafe {
                tile_pair_avx512(kc, a.as_ptr(), b.as_ptr(), b[kc * NR..].as_ptr(), c.as_mut_ptr(), ldc, add);
                true
            },
            // Two tiles, one after the other: so the tests run the driver's pairs on any CPU.
            Kernel::Portable => {
                tile_portable(kc, a, &b[..kc * NR], c, ldc, add);
                tile_portable(kc, a, &b[kc * NR..], &mut c[NR..], ldc, add);
                true
            }
            _ => false,
        }
    }

    /// One MR×NR tile from a panel of A and one of B, written at the start of `c` (row stride
    /// `ldc`): the sums, or (`add`) the sums added to what is there.
    fn tile(self, kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, add: bool) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR, "tile: panels too short");
        assert!(ldc >= NR && (MR - 1) * ldc + NR <= c.len(), "tile: C too short");
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `gemm` checked that the CPU has AVX2 and FMA (which every AVX-512 CPU it
            // takes has too), and the asserts above keep every access inside the panels and C.
            Kernel::Avx2Fma | Kernel::Avx512 => unsafe {
                tile_avx2_fma(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldc, add)
            },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2Fma | Kernel::Avx512 => unreachable!("AVX2 and AVX-512 exist only on x86-64"),
            Kernel::Portable => tile_portable(kc, a, b, c, ldc, add),
        }
    }
}

/// Packing buffers one worker reuses (grown, never shrunk).
#[derive(Default)]
pub struct GemmScratch {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// `len` floats of `buffer` starting on a 64-byte boundary (a cache line, so that no load of a
/// panel's row straddles two), growing it as needed.
fn aligned(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const LINE_FLOATS: usize = 16;
    if buffer.len() < len + LINE_FLOATS {
        buffer.resize(len + LINE_FLOATS, 0.0);
    }
    let start = buffer.as_ptr().align_offset(64).min(LINE_FLOATS);
    &mut buffer[start..start + len]
}

/// C = A · B (`accumulate` false) or C + A · B (true), C row-major with row stride `ldc`; A is
/// m×k and B k×n as their views say.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: Strided,
    accumulate: bool,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut GemmScratch,
) {
    assert!(a.holds(m, k) && b.holds(k, n), "gemm: a view reaches past its slice");
    assert!(kernel.level() <= isa::detected(), "gemm: this CPU cannot run the {kernel:?} kernel");
    assert!(m == 0 || n == 0 || (m - 1) * ldc + n <= c.len(), "gemm: C too short");
    if k == 0 && !accumulate {
        c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
    }
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let packed_b = aligned(&mut scratch.b, nc.div_ceil(NR) * NR * kc);
            pack_b(&b, pc, kc, jc, nc, packed_b);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let packed_a = aligned(&mut scratch.a, mc.div_ceil(MR) * MR * kc);
                pack_a(&a, ic, mc, pc, kc, packed_a);
                let mut jr = 0;
                while jr < nc {
                    // Two whole panels of B at once where the kernel has a form for it.
                    let pair = nc - jr >= 2 * NR && kernel.pairs();
                    let b_panels = &packed_b[jr * kc..(jr + if pair { 2 } else { 1 } * NR) * kc];
                    let b_panel = &b_panels[..NR * kc];
                    for ir in (0..mc).step_by(MR) {
                        let a_panel = &packed_a[ir * kc..(ir + MR) * kc];
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        let (at, add) = ((ic + ir) * ldc + jc + jr, accumulate || pc > 0);
                        if rows == MR
                            && pair
                            && kernel.tile_pair(kc, a_panel, b_panels, &mut c[at..], ldc, add)
                        {
                            continue;
                        }
                        if pair {
                            // The rows at C's edge: each of the two tiles alone.
                            tile_at_edge(
                                kernel,
                                kc,
                                a_panel,
                                &b_panels[NR * kc..],
                                &mut c[at + NR..],
                                ldc,
                                rows,
                                NR,
                                add,
                            );
                        }
                        if rows == MR && cols == NR {
                            kernel.tile(kc, a_panel, b_panel, &mut c[at..], ldc, add);
                            continue;
                        }
                        tile_at_edge(kernel, kc, a_panel, b_panel, &mut c[at..], ldc, rows, cols, add);
                    }
                    jr += if pair { 2 } else { 1 } * NR;
                }
            }
        }
    }
}

/// A tile that C's edge cuts to `rows` x `cols`: its sums aside, then the part inside C.
#[allow(clippy::too_many_arguments)]
fn tile_at_edge(
    kernel: Kernel,
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    rows: usize,
    cols: usize,
    add: bool,
) {
    let mut tile = [0.0f32; MR * NR];
    kernel.tile(kc, a, b, &mut tile, NR, false);
    for (sums, row) in tile.chunks_exact(NR).take(rows).zip(c.chunks_mut(ldc)) {
        let row = &mut row[..cols];
        if add {
            row.iter_mut().zip(sums).for_each(|(c, s)| *c += s);
        } else {
            row.copy_from_slice(&sums[..cols]);
        }
    }
}

/// Rows ic..ic+mc, columns pc..pc+kc of A as panels of MR rows, each k-major (`[kc][MR]`), the
/// rows past m zero.
fn pack_a(a: &Strided, ic: usize, mc: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for (panel, packed) in out.chunks_exact_mut(MR * kc).enumerate() {
        let (first, rows) = (ic + panel * MR, MR.min(mc - panel * MR));
        pack_panel::<MR>(a, first, rows, pc, kc, false, packed);
    }
}

/// Rows pc..pc+kc, columns jc..jc+nc of B as panels of NR columns, each k-major (`[kc][NR]`),
/// the columns past n zero.
fn pack_b(b: &Strided, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    for (panel, packed) in out.chunks_exact_mut(NR * kc).enumerate() {
        let (first, cols) = (jc + panel * NR, NR.min(nc - panel * NR));
        pack_panel::<NR>(b, first, cols, pc, kc, true, packed);
    }
}

/// One panel, `packed[p][w]` (W wide) = element (k = pc + p, other = first + w) of the matrix,
/// where k runs along the matrix's columns for A (`k_is_row` false) and its rows for B; the
/// lanes past `count` zero. Each source run that is contiguous in memory is read as a slice.
fn pack_panel<const W: usize>(
    m: &Strided,
    first: usize,
    count: usize,
    pc: usize,
    kc: usize,
    k_is_row: bool,
    packed: &mut [f32],
) {
    let (k_stride, other_stride) =
        if k_is_row { (m.row_stride, m.col_stride) } else { (m.col_stride, m.row_stride) };
    let packed = &mut packed[..kc * W];
    if count < W {
        packed.fill(0.0);
    }
    if other_stride == 1 && count == W {
        // Each step of k reads W neighbours: a copy of a fixed size, no call.
        for (p, row) in packed.chunks_exact_mut(W).enumerate() {
            let at = (pc + p) * k_stride + first;
            let run: &[f32; W] = m.data[at..at + W].try_into().expect("W values");
            *<&mut [f32; W]>::try_from(row).expect("W lanes") = *run;
        }
    } else if k_stride == 1 && count == W {
        // W lines, each contiguous along k, read side by side: one row of the panel per step.
        let lines: [&[f32]; W] = std::array::from_fn(|w| {
            let at = (first + w) * other_stride + pc;
            &m.data[at..at + kc]
        });
        for (p, row) in packed.chunks_exact_mut(W).enumerate() {
            row.iter_mut().zip(&lines).for_each(|(v, line)| *v = line[p]);
        }
    } else if k_stride == 1 {
        // Each of the `count` lines runs contiguously along k.
        for w in 0..count {
            let at = (first + w) * other_stride + pc;
            let line = &m.data[at..at + kc];
            packed.iter_mut().skip(w).step_by(W).zip(line).for_each(|(v, &x)| *v = x);
        }
    } else {
        for (p, row) in packed.chunks_exact_mut(W).enumerate() {
            for (w, v) in row[..count].iter_mut().enumerate() {
                *v = m.data[(pc + p) * k_stride + (first + w) * other_stride];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    /// Sizes around the tile's and the blocks' edges, k past one KC block.
    const SIZES: [(usize, usize, usize); 6] =
        [(1, 1, 1), (6, 16, 7), (7, 17, 300), (64, 100, 576), (97, 33, 513), (5, 1030, 20)];

    #[test]
    fn matches_a_product_in_f64_for_every_layout() {
        let mut rng = Rng::new(7);
        let kernels = [Kernel::Portable].into_iter().chain(Kernel::best());
        for ((m, n, k), kernel) in SIZES.into_iter().flat_map(|size| kernels.clone().map(move |k| (size, k)))
        {
            let (a, b) = (random(m * k, &mut rng), random(k * n, &mut rng));
            let (a_t, b_t) = (transpose(&a, m, k), transpose(&b, k, n));
            let c0 = random(m * n, &mut rng);
            for (av, bv) in [
                (Strided::rows(&a, k), Strided::rows(&b, n)),
                (Strided::transposed(&a_t, m), Strided::transposed(&b_t, k)),
            ] {
                for accumulate in [false, true] {
                    let mut c = c0.clone();
                    gemm(kernel, m, n, k, av, bv, accumulate, &mut c, n, &mut GemmScratch::default());
                    for i in 0..m {
                        for j in 0..n {
                            let exact: f64 =
                                (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>()
                                    + if accumulate { c0[i * n + j] as f64 } else { 0.0 };
                            let got = c[i * n + j] as f64;
                            assert!(
                                (got - exact).abs() <= 1e-5 * (k as f64).sqrt() * 4.0,
                                "{m}x{n}x{k} ({i},{j}): {got} vs {exact}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_kernel_sums_in_the_same_order_bit_for_bit() {
        let mut rng = Rng::new(8);
        // Those of the wide kernels this CPU runs.
        let kernels = [Kernel::Avx2Fma, Kernel::Avx512].into_iter().filter(|k| k.level() <= isa::detected());
        for ((m, n, k), best) in SIZES.into_iter().flat_map(|size| kernels.clone().map(move |k| (size, k))) {
            let (a, b) = (random(m * k, &mut rng), random(k * n, &mut rng));
            let c0 = random(m * n, &mut rng);
            let run = |kernel| {
                let mut c = c0.clone();
                let (av, bv) = (Strided::rows(&a, k), Strided::rows(&b, n));
                gemm(kernel, m, n, k, av, bv, true, &mut c, n, &mut GemmScratch::default());
                c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert!(
                run(best) == run(Kernel::Portable),
                "{m}x{n}x{k}: {best:?} differs from the portable kernel"
            );
        }
    }

    #[test]
    fn c_with_a_wider_row_stride_keeps_the_columns_outside() {
        let mut rng = Rng::new(9);
        let (m, n, k, ldc) = (7, 18, 5, 21);
        let (a, b) = (random(m * k, &mut rng), random(k * n, &mut rng));
        let mut c = vec![9.0; m * ldc];
        let kernel = Kernel::best().unwrap_or(Kernel::Portable);
        gemm(
            kernel,
            m,
            n,
            k,
            Strided::rows(&a, k),
            Strided::rows(&b, n),
            false,
            &mut c,
            ldc,
            &mut GemmScratch::default(),
        );
        assert!(c.chunks(ldc).all(|row| row[n..].iter().all(|&v| v == 9.0)));
        let mut empty = vec![3.0; m * n];
        gemm(
            kernel,
            m,
            n,
            0,
            Strided::rows(&a, 0),
            Strided::rows(&b, n),
            false,
            &mut empty,
            n,
            &mut GemmScratch::default(),
        );
        assert!(empty.iter().all(|&v| v == 0.0), "k = 0 without accumulating gives zeros");
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols * rows).map(|at| x[(at % rows) * cols + at / rows]).collect()
    }
}
