//! Which of the CPU path's hand-written kernels may run: AVX2 + FMA where the CPU has them, or
//! what `LENET_CPU_KERNELS` asks for (`avx512`, `avx2` or `portable`), so that the paths can be
//! compared on one machine. The portable code (plain loops and the `matrixmultiply` crate) is
//! what runs on every other CPU and in the browser. Read once per process.
//!
//! AVX-512 (the blocked GEMM's wider tiles, the same sums bit for bit) runs only when asked for:
//! it has not yet run on AVX-512 hardware for this project beyond its tests, which compare it
//! with the portable kernel wherever the CPU has it.

use std::sync::OnceLock;

/// The variable that chooses the kernels.
pub const VARIABLE: &str = "LENET_CPU_KERNELS";

/// The kernels' instruction sets, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No hand-written kernels.
    Portable,
    /// AVX2 + FMA: the direct convolutions and the blocked GEMM.
    Avx2Fma,
    /// AVX-512F as well: the blocked GEMM's wider tiles (the same sums, bit for bit).
    Avx512,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2Fma => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn named(name: &str) -> Option<Level> {
        [Level::Portable, Level::Avx2Fma, Level::Avx512]
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name))
    }
}

/// The kernels that run: AVX2 + FMA where detected (`DEFAULT_WIDEST`), or what
/// `LENET_CPU_KERNELS` says (one wider than the CPU has cannot run: the widest it has does, and
/// a note says so).
pub fn level() -> Level {
    static CHOSEN: OnceLock<Level> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let detected = detected();
        let Ok(asked) = std::env::var(VARIABLE) else { return detected.min(DEFAULT_WIDEST) };
        match Level::named(asked.trim()) {
            Some(level) if level <= detected => level,
            Some(level) => {
                eprintln!(
                    "note: {VARIABLE}={asked}, but this CPU lacks {}: using {}",
                    level.name(),
                    detected.name()
                );
                detected
            }
            None => {
                eprintln!(
                    "note: {VARIABLE}={asked} is not one of avx512, avx2, portable: using {}",
                    detected.name()
                );
                detected
            }
        }
    })
}

/// The widest level that runs unless asked for: AVX-512 waits for a measurement on hardware.
const DEFAULT_WIDEST: Level = Level::Avx2Fma;

/// The widest level this CPU has, whatever `LENET_CPU_KERNELS` says.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            return if has!("avx512f") { Level::Avx512 } else { Level::Avx2Fma };
        }
    }
    Level::Portable
}

/// Whether the AVX2 + FMA kernels run.
pub fn avx2_fma() -> bool {
    level() >= Level::Avx2Fma
}
