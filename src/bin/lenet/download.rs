//! `lenet download`.

use super::args::DataArgs;
use anyhow::{Context, Result};
use clap::Args;
use lenet_gpu::data::mnist::{self, Collection};
use lenet_gpu::data::{cifar, download};

#[derive(Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which data set: `mnist`, `fashion-mnist` or `cifar10`.
    #[arg(long, value_name = "NAME", default_value = "mnist", value_parser = ["mnist", "fashion-mnist", "cifar10"])]
    dataset: String,
}

pub fn run(args: DownloadArgs) -> Result<()> {
    let collection = Collection::from_key(&args.dataset).context("unknown data set")?;
    let dir = collection.data_dir(args.data.data_dir.as_deref());
    download::download(&dir, &collection.mirrors(), collection.files(), true)?;
    if collection == Collection::Cifar10 {
        cifar::unpack(&dir.join(collection.files()[0].name), &dir)?;
    }
    mnist::load_collection(collection, &dir)
        .with_context(|| format!("checking the downloaded files in {}", dir.display()))?;
    println!("{} is ready in {}", collection.name(), dir.display());
    Ok(())
}
