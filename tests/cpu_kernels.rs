//! The CPU path gives the same numbers on every x86 CPU: each kernel keeps every output's
//! summation order whatever instruction set runs it (`LENET_CPU_KERNELS` chooses one), so a run
//! on AVX-512 and on AVX2 + FMA trains bit for bit alike; the portable code (no FMA,
//! the `matrixmultiply` crate) differs by rounding alone. The network has a wide convolution (40
//! channels) and a strided one, which the blocked GEMM runs, between them one the direct AVX2
//! kernels run (16 channels, stride 1); the `lenet` binary trains it, one process a setting.

mod common;

use common::{TempDir, assert_success, run_lenet};
use lenet_gpu::cpu::isa::{self, Level};
use lenet_gpu::model::arch::{parse_network, plan_for_mnist};

const ARCH: &str = "conv40k3p1,relu,maxpool2,conv16k3p1,relu,conv24k3s2p1,relu,dense10";

/// The parameters after two epochs on 1,000 synthetic digits, with `LENET_CPU_KERNELS=level`
/// (None: the default).
fn trained(level: Option<Level>, work: &TempDir) -> Vec<f32> {
    let name = level.map_or("default", Level::name);
    let model = work.join(&format!("{name}.safetensors"));
    let args = [
        "train",
        "--arch",
        ARCH,
        "--dataset",
        "synthetic",
        "--limit-train",
        "1000",
        "--limit-test",
        "100",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--threads",
        "2",
        "--save",
        model.to_str().unwrap(),
    ];
    let run = run_lenet(&args, |cmd| {
        cmd.current_dir(work.path());
        match level {
            Some(level) => cmd.env(isa::VARIABLE, level.name()),
            None => cmd.env_remove(isa::VARIABLE),
        };
    });
    assert_success(&run);
    let plan = plan_for_mnist(&parse_network(ARCH).unwrap()).unwrap();
    lenet_gpu::checkpoint::load(&model, &plan).unwrap().0.values
}

fn relative_l2(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm).sqrt()
}

#[test]
fn every_instruction_set_trains_the_same_numbers_and_the_portable_code_differs_by_rounding() {
    let work = TempDir::new("cpu-kernels");
    let default = trained(None, &work);
    // Each level this CPU has that uses FMA (AVX-512 only when asked): bit for bit the default's.
    for level in [Level::Avx2Fma, Level::Avx512].into_iter().filter(|&l| l <= isa::detected()) {
        let same = trained(Some(level), &work) == default;
        assert!(same, "{} trained other numbers than the default ({:?})", level.name(), isa::detected());
    }
    // Rounding apart at the first step, 32 steps of training carry the two runs about 1e-4
    // apart (1.04e-4 on AVX2 and AVX-512 alike); a wrong kernel would be off by far more.
    let portable = trained(Some(Level::Portable), &work);
    let distance = relative_l2(&portable, &default);
    assert!(distance <= 1e-3, "portable vs {:?}: relative L2 {distance:e}", isa::detected());
    eprintln!(
        "kernels {:?}; portable vs default after two epochs: relative L2 {distance:e}",
        isa::detected()
    );
}
