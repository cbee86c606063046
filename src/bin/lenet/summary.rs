//! `lenet summary`.

use super::args::parse_arch;
use anyhow::Result;
use clap::Args;
use lenet_gpu::model::{Network, arch};

#[derive(Args)]
pub struct SummaryArgs {
    /// The network: `lenet5`, `lenet5-1998` (tanh, average pooling), a layer list such as
    /// conv8k3p1,relu,maxpool2,dense10 (syntax in the README), or a file holding one.
    #[arg(long, value_name = "SPEC", default_value = "lenet5", value_parser = parse_arch)]
    arch: Network,
}

pub fn run(args: SummaryArgs) -> Result<()> {
    let network = args.arch;
    let plan = network.plan()?;
    if let Err(e) = arch::plan_for_mnist(&network) {
        eprintln!("note: `lenet train` would refuse this network: {e}");
    }
    if arch::name_of(&network).is_some() {
        println!("{}: {}", arch::title(&network), network.layers_string());
    } else {
        println!("network: {network}");
    }
    println!("{:<8} {:<36} {:>14} {:>10}", "layer", "kind", "output shape", "params");
    println!("{}", "-".repeat(71));
    println!("{:<8} {:<36} {:>14} {:>10}", "input", "", plan.input().to_string(), 0);
    for l in &plan.layers {
        println!(
            "{:<8} {:<36} {:>14} {:>10}",
            l.name,
            l.layer.describe(),
            l.output.to_string(),
            l.parameter_count()
        );
    }
    println!("{}", "-".repeat(71));
    println!("total parameters: {}", group_thousands(plan.parameter_count));
    Ok(())
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
