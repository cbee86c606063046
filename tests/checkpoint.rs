//! Checkpoints: a save/load round trip is exact, and every way a file can be wrong for the
//! network (another architecture, another dtype, truncated, absent) is an error naming it.

mod common;

use common::TempDir;
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Layer, Network, Parameters, Plan};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

fn lenet_plan() -> Plan {
    Network::lenet5().plan().unwrap()
}

fn metadata() -> HashMap<String, String> {
    HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("epoch".to_string(), "3".to_string()),
        ("note".to_string(), "ünïcode, commas, \"quotes\"".to_string()),
    ])
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn load_error(path: &Path, plan: &Plan) -> String {
    match checkpoint::load(path, plan) {
        Ok(_) => panic!("{} loaded, but it should not", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn save_then_load_gives_the_same_bits_and_metadata() {
    let dir = TempDir::new("ckpt-roundtrip");
    let path = dir.join("lenet.safetensors");
    let plan = lenet_plan();
    let params = Parameters::init(&plan, 11);
    checkpoint::save(&path, &params, metadata()).unwrap();

    let (loaded, meta) = checkpoint::load(&path, &plan).unwrap();
    assert_eq!(bits(&loaded.values), bits(&params.values));
    assert_eq!(loaded.views, params.views);
    assert_eq!(meta, metadata());

    // PyTorch's state_dict names and shapes, as f32.
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    let mut expected: Vec<&str> = params.views.iter().map(|v| v.name.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected);
    let conv1 = file.tensor("conv1.weight").unwrap();
    assert_eq!((conv1.dtype(), conv1.shape()), (Dtype::F32, &[6, 1, 5, 5][..]));
    let fc1 = file.tensor("fc1.weight").unwrap();
    assert_eq!((fc1.dtype(), fc1.shape()), (Dtype::F32, &[120, 400][..]));
}

#[test]
fn a_checkpoint_of_another_architecture_is_rejected_naming_the_tensor_and_both_shapes() {
    let dir = TempDir::new("ckpt-arch");
    let path = dir.join("lenet.safetensors");
    checkpoint::save(&path, &Parameters::init(&lenet_plan(), 1), HashMap::new()).unwrap();

    let mut wider = Network::lenet5();
    wider.layers[0] = Layer::conv(8, 5, 1, 2);
    let err = load_error(&path, &wider.plan().unwrap());
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    assert!(err.contains("conv1.weight"), "names the tensor: {err}");
    assert!(err.contains("[6, 1, 5, 5]") && err.contains("[8, 1, 5, 5]"), "gives both shapes: {err}");
}

/// The bytes of a LeNet-5 checkpoint in which `odd` is stored as `dtype` (zeros, right shape).
fn checkpoint_with_dtype(odd: &str, dtype: Dtype) -> Vec<u8> {
    let params = Parameters::init(&lenet_plan(), 1);
    let data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = params
        .views
        .iter()
        .map(|v| {
            if v.name == odd {
                let width = dtype.bitsize() / 8;
                (v.name.clone(), dtype, v.shape.clone(), vec![0u8; v.len * width])
            } else {
                let values = &params.values[v.offset..v.offset + v.len];
                let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
                (v.name.clone(), Dtype::F32, v.shape.clone(), bytes)
            }
        })
        .collect();
    let views = data.iter().map(|(name, dtype, shape, bytes)| {
        (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).unwrap())
    });
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn tensors_of_another_dtype_are_rejected_naming_the_dtype() {
    let dir = TempDir::new("ckpt-dtype");
    for (dtype, name) in [(Dtype::F64, "F64"), (Dtype::F16, "F16"), (Dtype::BF16, "BF16")] {
        let path = dir.join(&format!("{name}.safetensors"));
        common::write(&path, &checkpoint_with_dtype("fc2.weight", dtype));
        let err = load_error(&path, &lenet_plan());
        assert!(err.contains(&path.display().to_string()), "names the file: {err}");
        assert!(err.contains("fc2.weight") && err.contains(name), "names the tensor and {name}: {err}");
    }
}

#[test]
fn a_truncated_checkpoint_is_rejected() {
    let dir = TempDir::new("ckpt-truncated");
    let whole = dir.join("whole.safetensors");
    checkpoint::save(&whole, &Parameters::init(&lenet_plan(), 1), metadata()).unwrap();
    let bytes = std::fs::read(&whole).unwrap();
    let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for len in [0, 4, 8, 9, header - 1, header, header + 1, bytes.len() / 2, bytes.len() - 4, bytes.len() - 1]
    {
        let path = dir.join(&format!("cut-{len}.safetensors"));
        common::write(&path, &bytes[..len]);
        let err = load_error(&path, &lenet_plan());
        assert!(err.contains(&path.display().to_string()), "{len} bytes: names the file: {err}");
    }
}

#[test]
fn saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_file() {
    let dir = TempDir::new("ckpt-replace");
    let path = dir.join("lenet.safetensors");
    let plan = lenet_plan();
    common::write(&path, b"an older file that is not even a checkpoint");
    checkpoint::save(&path, &Parameters::init(&plan, 1), metadata()).unwrap();
    let newer = Parameters::init(&plan, 2);
    let mut newer_meta = metadata();
    newer_meta.insert("epoch".to_string(), "4".to_string());
    checkpoint::save(&path, &newer, newer_meta.clone()).unwrap();

    let (loaded, meta) = checkpoint::load(&path, &plan).unwrap();
    assert_eq!(bits(&loaded.values), bits(&newer.values));
    assert_eq!(meta, newer_meta);
    assert_eq!(dir.entries(), ["lenet.safetensors"], "no temporary file is left behind");
}

#[test]
fn saving_into_a_missing_directory_is_an_error() {
    let dir = TempDir::new("ckpt-nodir");
    let path = dir.join("no-such-dir/lenet.safetensors");
    let err = checkpoint::save(&path, &Parameters::init(&lenet_plan(), 1), HashMap::new())
        .expect_err("there is no directory to save into")
        .to_string();
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "nothing is created");
}

#[test]
#[cfg(target_os = "linux")]
fn a_save_removes_the_temporaries_of_killed_writers_only() {
    let dir = TempDir::new("stale");
    let path = dir.join("model.safetensors");
    // No process has a pid above the kernel's maximum (4194304); pid 1 always runs.
    let stale = dir.join(".model.safetensors.tmp-99999999");
    let live = dir.join(".model.safetensors.tmp-1");
    let other = dir.join(".other.safetensors.tmp-99999999");
    for p in [&stale, &live, &other] {
        common::write(p, b"half a checkpoint");
    }
    let plan = lenet_plan();
    checkpoint::save(&path, &Parameters::init(&plan, 1), metadata()).unwrap();
    assert_eq!(
        dir.entries(),
        [".model.safetensors.tmp-1", ".other.safetensors.tmp-99999999", "model.safetensors"],
        "only the dead writer's temporary of this file is gone"
    );
}

#[test]
fn parameters_holding_nan_are_never_saved_over_a_good_checkpoint() {
    let dir = TempDir::new("nan");
    let path = dir.join("model.safetensors");
    let plan = lenet_plan();
    let good = Parameters::init(&plan, 1);
    checkpoint::save(&path, &good, metadata()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    let fc2 = bad.views.iter().find(|v| v.name == "fc2.weight").unwrap().offset;
    bad.values[fc2 + 3] = f32::NAN;
    let err = checkpoint::save(&path, &bad, metadata()).unwrap_err();
    assert!(matches!(err, lenet_gpu::Error::Diverged(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("fc2.weight holds NaN") && err.contains("keeps its last good state"), "{err}");
    let state = lenet_gpu::cpu::optimizer::OptimizerState::new(plan.parameter_count);
    assert!(checkpoint::save_training(&path, &bad, &state, metadata()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the good checkpoint is untouched");
    assert_eq!(dir.entries(), ["model.safetensors"], "and nothing was written beside it");
}
