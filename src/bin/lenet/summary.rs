//! `lenet summary`.

use super::args::parse_arch;
use anyhow::Result;
use clap::Args;
use lenet_gpu::model::{Layer, Network, PlannedLayer, arch};
use lenet_gpu::session::SavedModel;
use std::path::PathBuf;

#[derive(Args)]
pub struct SummaryArgs {
    /// The network: `lenet5`, `lenet5-1998` (tanh, average pooling), a layer list such as
    /// conv8k3p1,relu,maxpool2,dense10 (syntax in docs/cli.md), or a file holding one.
    #[arg(long, value_name = "SPEC", default_value = "lenet5", value_parser = parse_arch)]
    arch: Network,
    /// Show the network this checkpoint records (a file written by `lenet train --save`)
    /// instead of --arch.
    #[arg(long, value_name = "FILE", conflicts_with = "arch")]
    model: Option<PathBuf>,
}

/// The least widths of the table's columns (the name and kind columns widen for longer ones).
const NAME: usize = 8;
const KIND: usize = 44;
const SHAPE: usize = 14;
const PARAMS: usize = 10;

/// One row of the table: name, kind, output shape, parameters.
type Row = (String, String, String, usize);

fn row(rows: &mut Vec<Row>, name: &str, kind: &str, shape: &str, params: usize) {
    rows.push((name.to_string(), kind.to_string(), shape.to_string(), params));
}

/// The table: a header, a rule, the rows, a rule.
fn print_table(rows: &[Row]) {
    let name = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(NAME);
    let kind = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(KIND);
    let line =
        |n: &str, k: &str, s: &str, p: &str| println!("{n:<name$} {k:<kind$} {s:>SHAPE$} {p:>PARAMS$}");
    line("layer", "kind", "output shape", "params");
    let rule = "-".repeat(name + kind + SHAPE + PARAMS + 3);
    println!("{rule}");
    for (n, k, s, p) in rows {
        line(n, k, s, &p.to_string());
    }
    println!("{rule}");
}

pub fn run(args: SummaryArgs) -> Result<()> {
    let network = match &args.model {
        Some(path) => {
            let model = SavedModel::read(path, None)?;
            let epoch = model.metadata.get("epoch").map(|e| format!(", after epoch {e}")).unwrap_or_default();
            match model.metadata.contains_key("architecture") {
                true => println!("{}: the network it records{epoch}", path.display()),
                false => println!("{}: it records no network; its tensors fit LeNet-5", path.display()),
            }
            model.network
        }
        None => args.arch,
    };
    let plan = network.plan()?;
    if let Err(e) = arch::plan_for_mnist(&network) {
        eprintln!("note: `lenet train` would refuse this network: {e}");
    }
    if let Some(warning) = arch::ending_activation_warning(&network) {
        eprintln!("warning: {warning}");
    }
    if arch::name_of(&network).is_some() {
        println!("{}: {}", arch::title(&network), network.layers_string());
    } else {
        println!("network: {network}");
    }
    let mut table = Vec::new();
    row(&mut table, "input", "", &plan.input().to_string(), 0);
    rows(&mut table, &plan.layers, "");
    print_table(&table);
    println!("total parameters: {}", group_thousands(plan.trained_count()));
    let statistics = plan.parameter_count - plan.trained_count();
    if statistics > 0 {
        println!("(and {} running statistics of the batch norms, not trained)", group_thousands(statistics));
    }
    Ok(())
}

/// A row per layer, a residual block's layers indented under it, then its sum.
fn rows(table: &mut Vec<Row>, layers: &[PlannedLayer], indent: &str) {
    for l in layers {
        // A dense layer reads a map of several values per position as one flat vector.
        if matches!(l.layer, Layer::Dense { .. }) && (l.input.height, l.input.width) != (1, 1) {
            row(
                table,
                &format!("{indent}flatten"),
                &format!("flatten {} into {} values", l.input, l.input.len()),
                &l.input.len().to_string(),
                0,
            );
        }
        if let Layer::Residual { .. } = l.layer {
            row(table, &format!("{indent}{}", l.name), "residual block: x + body(x)", "", 0);
            let inner = format!("{indent}  ");
            rows(table, &l.body, &inner);
            let shortcut = match &l.shortcut {
                Some(conv) => {
                    let name = format!("{inner}{}", conv.name);
                    row(
                        table,
                        &name,
                        &format!("shortcut: {}", kind(conv)),
                        &conv.output.to_string(),
                        conv.parameter_count(),
                    );
                    "the shortcut's"
                }
                None => "x",
            };
            row(table, &format!("{indent}  add"), &format!("body(x) + {shortcut}"), &l.output.to_string(), 0);
            continue;
        }
        row(table, &format!("{indent}{}", l.name), &kind(l), &l.output.to_string(), l.parameter_count());
    }
}

/// A layer in words; a convolution with the channels it reads and writes.
fn kind(l: &PlannedLayer) -> String {
    match l.layer {
        Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding } => format!(
            "conv {kernel_h}x{kernel_w}, {} -> {out_channels} channels, stride {stride}, pad {padding}",
            l.input.channels
        ),
        Layer::Dense { out_features } => format!("dense {} -> {out_features}", l.input.len()),
        Layer::BatchNorm => format!("batch norm over {} channels", l.input.channels),
        _ => l.layer.describe(),
    }
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
