//! `lenet download`.

use super::args::DataArgs;
use anyhow::{Context, Result};
use clap::Args;
use lenet_gpu::data::download;
use lenet_gpu::data::mnist::{self, Collection};

#[derive(Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which data set: `mnist` or `fashion-mnist`.
    #[arg(long, value_name = "NAME", default_value = "mnist", value_parser = ["mnist", "fashion-mnist"])]
    dataset: String,
}

pub fn run(args: DownloadArgs) -> Result<()> {
    let collection = Collection::from_key(&args.dataset).context("unknown data set")?;
    let dir = collection.data_dir(args.data.data_dir.as_deref());
    download::download(&dir, &collection.mirrors(), collection.files(), true)?;
    mnist::load_collection(collection, &dir)
        .with_context(|| format!("checking the downloaded files in {}", dir.display()))?;
    println!("{} is ready in {}", collection.name(), dir.display());
    Ok(())
}
