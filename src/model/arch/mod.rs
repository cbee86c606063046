//! The compact architecture syntax of `--arch`, the exact inverse of `Layer`'s Display:
//!
//! ```text
//! network := name | [input ","] layer ("," layer)*
//! name    := "lenet5" | "lenet5-1998" | "lenet5-cifar"   (also written "lenet-5", …)
//! input   := "input" shape              shape := C "x" H "x" W | C "@" H "x" W | C
//! layer   := "conv" OUT "k" KH ["x" KW] ["s" STRIDE] ["p" PAD]     (s and p in either order)
//!          | "maxpool" WINDOW ["s" STRIDE]
//!          | "avgpool" WINDOW ["s" STRIDE]
//!          | "relu"
//!          | "tanh"
//!          | "gelu"                                 (PyTorch's exact GELU)
//!          | "bn"                                   (batch norm over channels; also "batchnorm")
//!          | "dropout" RATE                         (RATE a fraction: dropout0.25)
//!          | "gap"                                  (global average pooling: C@HxW → C)
//!          | "res(" layer ("," layer)* ")"          (x + the layers applied to x, on one line)
//!          | "dense" OUT
//! ```
//!
//! A residual block adds its input to its layers' output; where they change the shape, a 1x1
//! convolution on the shortcut (its stride what the planes shrink by) takes the input there.
//!
//! Whitespace around items is ignored, newlines separate items as commas do (a line may end with
//! a comma), and `#` starts a comment that runs to the end of the line. Keywords are not case
//! sensitive. Defaults: stride 1 and padding 0 for a convolution, stride = window for pooling,
//! input 1x28x28 (MNIST). Every size must be at least 1 (padding may be 0).
//!
//! Parsing checks the syntax only; whether the shapes chain is `Network::plan`'s business, and
//! whether the network fits a data set (MNIST's 1x28x28 or CIFAR-10's 3x32x32 input, ten classes)
//! is `plan_for_mnist`'s.
//!
//! This module owns the public API: the named networks, loading a network from a name, a file
//! or a text, MNIST's planning checks, and `Network`'s FromStr and Display; the parser itself,
//! its limits and its messages are in `parse.rs`.

mod parse;

pub use parse::{parse_network, parse_shape};

use super::{Network, Plan, Shape};
use crate::{Error, Result};
use std::path::Path;

/// The input when the text names none: one MNIST image.
pub const DEFAULT_INPUT: Shape = Shape::new(1, 28, 28);

/// CIFAR-10's input: three 32x32 planes (R, G, B).
pub const CIFAR10_INPUT: Shape = Shape::new(3, 32, 32);

/// MNIST's (and CIFAR-10's) classes: the last layer must give this many outputs.
pub const MNIST_CLASSES: usize = 10;

/// The largest architecture file read: anything bigger is surely not one.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The network `spec` names: one of `NAMES`, an existing file holding an
/// architecture, or an architecture itself. Errors in a file name the file.
pub fn load_network(spec: &str) -> Result<Network> {
    let path = Path::new(spec);
    if named(spec.trim()).is_none() && path.is_file() {
        let len = path.metadata().map_err(|e| Error::io(path, e))?.len();
        if len > MAX_FILE_BYTES {
            return Err(Error::bad_data(path, format!("{len} bytes is too large for an architecture file")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        return parse_network(&text).map_err(|e| match e {
            Error::Network(why) => Error::bad_data(path, why),
            other => other,
        });
    }
    parse_network(spec).map_err(|e| match e {
        // A lone item with a path's characters was most likely meant as a file.
        Error::Network(why)
            if !spec.contains(',')
                && spec.contains(['/', '\\', '.'])
                && !spec.trim().to_ascii_lowercase().starts_with("dropout") =>
        {
            Error::Network(format!("{spec}: no such file, and not an architecture either ({why})"))
        }
        // A lone word that is no layer was most likely meant as a network's name.
        Error::Network(why) if !spec.contains(',') && why.contains("unknown layer") => {
            Error::Network(format!(
                "unknown network \"{}\": the named networks are {}; or give a layer list such as conv6k5p2,relu,maxpool2,dense10, or a file holding one",
                spec.trim(),
                NAMES.map(|n| format!("{n} ({})", title(&named(n).expect("a named network")))).join(", ")
            ))
        }
        other => other,
    })
}

/// Plans `network` for a data set this engine reads: its input must be one MNIST-style 28x28
/// gray image (MNIST, Fashion-MNIST) or one CIFAR-10 32x32 colour image, and its last layer must
/// give one output per class (ten for each). Shapes that don't chain are `Network::plan`'s
/// error, naming the layer and the shape it cannot take.
pub fn plan_for_mnist(network: &Network) -> Result<Plan> {
    if network.input != DEFAULT_INPUT && network.input != CIFAR10_INPUT {
        return Err(Error::Network(format!(
            "the network takes {} inputs but MNIST images are {DEFAULT_INPUT} and CIFAR-10's {CIFAR10_INPUT}",
            network.input
        )));
    }
    let plan = network.plan()?;
    let output = plan.output();
    if output.len() != MNIST_CLASSES {
        let shape =
            if output.height == 1 && output.width == 1 { String::new() } else { format!(" ({output})") };
        return Err(Error::Network(format!(
            "the last layer gives {}{shape} outputs but MNIST has {MNIST_CLASSES} classes (end the network with dense{MNIST_CLASSES})",
            output.len()
        )));
    }
    Ok(plan)
}

impl std::str::FromStr for Network {
    type Err = Error;

    fn from_str(text: &str) -> Result<Network> {
        parse_network(text)
    }
}

/// The architecture in the syntax `parse_network` reads: the layers (as `layers_string`), after
/// `input<C>x<H>x<W>` when the input is not MNIST's.
impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.input != DEFAULT_INPUT {
            let Shape { channels, height, width } = self.input;
            write!(f, "input{channels}x{height}x{width},")?;
        }
        write!(f, "{}", self.layers_string())
    }
}

/// The networks known by name: the lesson's LeNet-5, the 1998 original (tanh, average pooling),
/// LeNet-5's shape on CIFAR-10's colour images, and two networks past LeNet for CIFAR-10 (see
/// `RESNET8_CIFAR`, `AIRBENCH94`).
pub const NAMES: [&str; 5] = ["lenet5", "lenet5-1998", "lenet5-cifar", "resnet8-cifar", "airbench94"];

/// A ResNet-8 for CIFAR-10 (He et al.'s CIFAR ResNets with one block a stage, widths 16, 32, 64):
/// a stem, three residual blocks of two 3x3 convolutions with batch norm (the second and third
/// halving the planes, a 1x1 convolution on their shortcuts), global average pooling, dense10.
pub const RESNET8_CIFAR: &str = "input3x32x32,conv16k3p1,bn,relu,\
res(conv16k3p1,bn,relu,conv16k3p1,bn),relu,\
res(conv32k3s2p1,bn,relu,conv32k3p1,bn),relu,\
res(conv64k3s2p1,bn,relu,conv64k3p1,bn),relu,gap,dense10";

/// airbench94's network (Jordan, arXiv 2404.00498: 94% on CIFAR-10 in 3.29 s on an A100), its
/// layers and shapes: a 2x2 convolution of 24 channels (the paper initializes it by whitening),
/// then three groups of conv, max-pool, batch norm, GELU, conv, batch norm, GELU (widths 64,
/// 256, 256), a 3x3 max-pool and a dense layer. Its convolutions have biases here, and its final
/// scaling by 1/9 is left out.
pub const AIRBENCH94: &str = "input3x32x32,conv24k2,gelu,\
conv64k3p1,maxpool2,bn,gelu,conv64k3p1,bn,gelu,\
conv256k3p1,maxpool2,bn,gelu,conv256k3p1,bn,gelu,\
conv256k3p1,maxpool2,bn,gelu,conv256k3p1,bn,gelu,\
maxpool3,dense10";

/// The network a name of `NAMES` stands for, any case, LeNet-5's also with a hyphen after
/// "lenet" as the paper writes it ("LeNet-5").
fn named(text: &str) -> Option<Network> {
    let lower = text.to_ascii_lowercase();
    match lower.strip_prefix("lenet-").map_or(lower.clone(), |rest| format!("lenet{rest}")).as_str() {
        "lenet5" => Some(Network::lenet5()),
        "lenet5-1998" => Some(Network::lenet5_1998()),
        "lenet5-cifar" => Some(Network::lenet5_cifar()),
        "resnet8-cifar" => Some(parse_network(RESNET8_CIFAR).expect("ResNet-8 parses")),
        "airbench94" => Some(parse_network(AIRBENCH94).expect("airbench94 parses")),
        _ => None,
    }
}

/// The name of `network` if it is one of the named networks (`NAMES`).
pub fn name_of(network: &Network) -> Option<&'static str> {
    NAMES.into_iter().find(|n| named(n).as_ref() == Some(network))
}

/// How messages call `network`: "LeNet-5", "LeNet-5 (1998)", or its architecture string.
pub fn title(network: &Network) -> String {
    match name_of(network) {
        Some("lenet5") => "LeNet-5".to_string(),
        Some("lenet5-1998") => "LeNet-5 (1998)".to_string(),
        Some("lenet5-cifar") => "LeNet-5 (CIFAR-10)".to_string(),
        Some("resnet8-cifar") => "ResNet-8 (CIFAR-10)".to_string(),
        Some("airbench94") => "airbench94's network (CIFAR-10)".to_string(),
        _ => network.to_string(),
    }
}

/// A warning when `network` ends in an activation (ReLU, tanh): the softmax then reads clipped
/// or squashed scores, so the classes cannot be told apart freely. None when it ends otherwise.
pub fn ending_activation_warning(network: &Network) -> Option<String> {
    let last = network.layers.last()?;
    let effect = match last {
        super::Layer::Relu => {
            "sets every negative class score to 0, so wrong classes cannot be scored down (and one at 0 learns nothing)"
        }
        super::Layer::Tanh => {
            "squashes the class scores into [-1, 1], so no class can be more than e^2 = 7.4 times likelier than another"
        }
        _ => return None,
    };
    Some(format!(
        "the network ends in {last}, which {effect}: the softmax (implicit) should read the last dense layer's outputs as they are; drop the final {last}"
    ))
}
