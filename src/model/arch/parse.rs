//! The parser of the `--arch` syntax (the grammar is in `arch`'s documentation): items, layers
//! and shapes, the limits on sizes, and the error messages that name the faulty item.

use super::{DEFAULT_INPUT, named};
use crate::model::{DropoutRate, Layer, Network, Shape};
use crate::{Error, Result};

/// The largest number any size may be: keeps every shape computation far from overflow.
const MAX_NUMBER: usize = 1 << 24;

/// The deepest residual blocks may nest: far past any network's, and well within the stack.
const MAX_NESTING: i32 = 32;

/// The most values a layer's output (per image), a layer's parameters or the whole network's
/// parameters may hold: beyond this the buffers could not be allocated anyway, and the products
/// that size them could overflow.
const MAX_VALUES: u128 = 1 << 30;

/// Parses an architecture (see the `arch` module's documentation). Errors name the item, by its
/// position and text (and line, when the text has several), and say what was expected.
pub fn parse_network(text: &str) -> Result<Network> {
    let items = split_items(text)?;
    let multiline = items.iter().any(|i| i.line > 1);
    let name = |item: &Item, layer_number: usize| {
        let line = if multiline { format!(" (line {})", item.line) } else { String::new() };
        if layer_number == 0 {
            format!("input \"{}\"{line}", item.text)
        } else {
            format!("layer {layer_number} \"{}\"{line}", item.text)
        }
    };
    if items.is_empty() {
        return Err(Error::Network(
            "the architecture is empty: expected a layer list such as conv6k5p2,relu,maxpool2,dense10, or lenet5"
                .into(),
        ));
    }
    if let Some((i, network)) = items.iter().enumerate().find_map(|(i, item)| Some((i, named(item.text)?))) {
        if items.len() > 1 {
            let number = items[..i].iter().filter(|i| !is_input(i.text)).count() + 1;
            return Err(Error::Network(format!(
                "{}: {} names a whole network, so it must stand alone",
                name(&items[i], number),
                items[i].text
            )));
        }
        return Ok(network);
    }

    let mut input = DEFAULT_INPUT;
    let mut layers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(rest) = strip_prefix_ignore_case(item.text, "input") {
            if i > 0 {
                return Err(Error::Network(format!(
                    "{}: the input shape must be the first item",
                    name(item, layers.len() + 1)
                )));
            }
            input = shape(rest).map_err(|why| Error::Network(format!("{}: {why}", name(item, 0))))?;
            continue;
        }
        let layer = layer(item.text)
            .map_err(|why| Error::Network(format!("{}: {why}", name(item, layers.len() + 1))))?;
        layers.push(layer);
    }
    if layers.is_empty() {
        return Err(Error::Network("the architecture has an input shape but no layers".into()));
    }
    // The items are the layers, after the input when the text names one.
    let first_layer = items.len() - layers.len();
    let network = Network { input, layers };
    check_sizes(&network, |number| name(&items[first_layer + number - 1], number))?;
    Ok(network)
}

/// Parses a shape as the grammar's `input` item takes it, or as `Shape`'s Display writes it:
/// `1x28x28`, `1@28x28`, or `10` (10 channels of 1x1).
pub fn parse_shape(text: &str) -> Result<Shape> {
    shape(text.trim()).map_err(|why| Error::Network(format!("shape \"{}\": {why}", text.trim())))
}

/// One item of the text: a layer (or the input, or a network's name), trimmed, and the line it is on.
struct Item<'a> {
    text: &'a str,
    line: usize,
}

/// Splits at commas and newlines, dropping comments, blank lines and a comma that ends a line.
/// Any other empty item (two commas in a row, a comma starting a line) is an error.
fn split_items(text: &str) -> Result<Vec<Item<'_>>> {
    let mut items: Vec<Item> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let depth = line.chars().scan(0i32, |d, c| {
            *d += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            Some(*d)
        });
        if depth.max().unwrap_or(0) > MAX_NESTING {
            return Err(Error::Network(format!(
                "residual blocks nest more than {MAX_NESTING} deep{}",
                if text.trim().contains('\n') { format!(" on line {}", i + 1) } else { String::new() }
            )));
        }
        let pieces: Vec<&str> = split_outside_parentheses(line).into_iter().map(str::trim).collect();
        for (j, &piece) in pieces.iter().enumerate() {
            if !piece.is_empty() {
                items.push(Item { text: piece, line: i + 1 });
            } else if j + 1 < pieces.len() {
                let where_ = match items.last() {
                    Some(prev) => format!("after \"{}\"", prev.text),
                    None => "at the start".to_string(),
                };
                let line =
                    if text.trim().contains('\n') { format!(" on line {}", i + 1) } else { String::new() };
                return Err(Error::Network(format!(
                    "an empty item {where_}{line}: expected a layer between the commas"
                )));
            }
        }
    }
    Ok(items)
}

/// `line` split at the commas outside parentheses: a residual block's layers stay one item.
fn split_outside_parentheses(line: &str) -> Vec<&str> {
    let (mut pieces, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in line.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&line[start..]);
    pieces
}

fn is_input(text: &str) -> bool {
    strip_prefix_ignore_case(text, "input").is_some()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// What a layer item says, or what is wrong with it.
fn layer(text: &str) -> std::result::Result<Layer, String> {
    let mut c = Cursor { text, pos: 0 };
    if c.keyword("conv") {
        let out_channels = c.number("number of output channels", 1)?;
        if !c.keyword("k") {
            return Err(format!("expected \"k\" and a kernel size after \"{}\"", c.done()));
        }
        let kernel_h = c.number("kernel size", 1)?;
        let kernel_w = if c.keyword("x") { c.number("kernel width", 1)? } else { kernel_h };
        let (mut stride, mut padding) = (None, None);
        while !c.at_end() {
            let (slot, noun, min) = if c.keyword("s") {
                (&mut stride, "stride", 1)
            } else if c.keyword("p") {
                (&mut padding, "padding", 0)
            } else {
                return Err(c.unexpected("s<stride> or p<padding>"));
            };
            if slot.is_some() {
                return Err(format!("the {noun} is given twice"));
            }
            *slot = Some(c.number(noun, min)?);
        }
        Ok(Layer::Conv2d {
            out_channels,
            kernel_h,
            kernel_w,
            stride: stride.unwrap_or(1),
            padding: padding.unwrap_or(0),
        })
    } else if let Some(kind) = ["maxpool", "avgpool"].into_iter().find(|&word| c.keyword(word)) {
        let window = c.number("window size", 1)?;
        let stride = if c.keyword("s") { c.number("stride", 1)? } else { window };
        if !c.at_end() {
            return Err(c.unexpected("s<stride> or the end of the layer"));
        }
        Ok(if kind == "maxpool" {
            Layer::MaxPool { window, stride }
        } else {
            Layer::AvgPool { window, stride }
        })
    } else if c.keyword("relu") {
        if !c.at_end() {
            return Err(c.unexpected("nothing more"));
        }
        Ok(Layer::Relu)
    } else if c.keyword("tanh") {
        if !c.at_end() {
            return Err(c.unexpected("nothing more"));
        }
        Ok(Layer::Tanh)
    } else if let Some(word) =
        ["bn", "batchnorm", "gap", "globalavgpool", "gelu"].into_iter().find(|&w| c.keyword(w))
    {
        if !c.at_end() {
            return Err(c.unexpected("nothing more"));
        }
        Ok(match word {
            "bn" | "batchnorm" => Layer::BatchNorm,
            "gelu" => Layer::Gelu,
            _ => Layer::GlobalAvgPool,
        })
    } else if c.keyword("dropout") {
        let rate = c.rate()?;
        if !c.at_end() {
            return Err(c.unexpected("nothing more"));
        }
        Ok(Layer::Dropout { rate })
    } else if c.keyword("res(") {
        let Some(inner) = c.rest().strip_suffix(')') else {
            return Err("a residual block ends with \")\" on the line it starts: res(layer,layer,...)".into());
        };
        residual(inner)
    } else if c.keyword("dense") {
        let out_features = c.number("number of outputs", 1)?;
        if !c.at_end() {
            return Err(c.unexpected("nothing more"));
        }
        Ok(Layer::Dense { out_features })
    } else if text.trim().eq_ignore_ascii_case("flatten") {
        Err("flattening is implicit: a dense layer takes everything before it as one flat vector (C@HxW as C·H·W values: in LeNet-5, 16@5x5 as 400), so leave flatten out".into())
    } else if text.trim().eq_ignore_ascii_case("softmax") {
        Err("the softmax is implicit: training's loss (softmax cross-entropy) and the predicted probabilities apply it to the last layer's outputs, so leave softmax out and end with dense10".into())
    } else {
        Err("unknown layer: expected conv<out>k<size>[x<width>][s<stride>][p<pad>], maxpool<window>[s<stride>], avgpool<window>[s<stride>], relu, tanh, gelu, bn, dropout<rate>, gap, res(<layers>) or dense<out>".into())
    }
}

/// A residual block's layers, the text between `res(` and its `)`: errors name the layer inside.
fn residual(inner: &str) -> std::result::Result<Layer, String> {
    let mut body = Vec::new();
    for (i, item) in split_outside_parentheses(inner).into_iter().map(str::trim).enumerate() {
        if item.is_empty() {
            return Err(format!("its layer {} is empty: expected a layer between the commas", i + 1));
        }
        if named(item).is_some() || is_input(item) {
            return Err(format!(
                "its layer {} \"{item}\": a block holds layers, not a network or an input",
                i + 1
            ));
        }
        body.push(layer(item).map_err(|why| format!("its layer {} \"{item}\": {why}", i + 1))?);
    }
    Ok(Layer::Residual { body })
}

/// `C`, `CxHxW` or `C@HxW`, each size at least 1.
fn shape(text: &str) -> std::result::Result<Shape, String> {
    let expected =
        || format!("expected a shape such as 1x28x28 (channels x height x width), found \"{text}\"");
    let (parts, with_at): (Vec<&str>, bool) = match text.split_once('@') {
        Some((c, hw)) => (std::iter::once(c).chain(hw.split(['x', 'X'])).collect(), true),
        None => (text.split(['x', 'X']).collect(), false),
    };
    if !(parts.len() == 3 || parts.len() == 1 && !with_at) {
        return Err(expected());
    }
    let mut sizes = Vec::with_capacity(3);
    for (part, noun) in parts.iter().map(|p| p.trim()).zip(["channel count", "height", "width"]) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(expected());
        }
        sizes.push(Cursor { text: part, pos: 0 }.number(noun, 1)?);
    }
    let shape = match sizes[..] {
        [c, h, w] => Shape::new(c, h, w),
        [c] => Shape::new(c, 1, 1),
        _ => unreachable!("one or three sizes"),
    };
    if shape.channels as u128 * shape.height as u128 * shape.width as u128 > MAX_VALUES {
        return Err(format!("the input {shape} is too large (at most {MAX_VALUES} values)"));
    }
    Ok(shape)
}

/// Walks the shapes as `Network::plan` will, in wide integers, so that a network that plans does
/// so without overflow: every output and every parameter count must stay within `MAX_VALUES`.
/// Stops quietly at the first layer that cannot take its input: that is `plan`'s error to give.
fn check_sizes(network: &Network, name: impl Fn(usize) -> String) -> Result<()> {
    let len = |s: Shape| s.channels as u128 * s.height as u128 * s.width as u128;
    let mut shape = network.input;
    let mut total: u128 = 0;
    for (i, layer) in network.layers.iter().enumerate() {
        let Ok(output) = layer.output_shape(shape) else { break };
        let parameters = parameters(layer, shape);
        total += parameters;
        let widest = widest_output(layer, shape, output);
        let problem = if len(widest) > MAX_VALUES {
            Some(format!("its output {widest} has {} values", len(widest)))
        } else if parameters > MAX_VALUES {
            Some(format!("it has {parameters} parameters"))
        } else if total > MAX_VALUES {
            Some(format!("the network has {total} parameters up to here"))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::Network(format!(
                "{}: too large: {problem} (at most {MAX_VALUES})",
                name(i + 1)
            )));
        }
        shape = output;
    }
    Ok(())
}

/// The largest of `layer`'s output (`output`, for `input`) and, in a residual block, its body's.
fn widest_output(layer: &Layer, input: Shape, output: Shape) -> Shape {
    let len = |s: Shape| s.channels as u128 * s.height as u128 * s.width as u128;
    let mut widest = output;
    if let Layer::Residual { body } = layer {
        let mut shape = input;
        for l in body {
            let Ok(out) = l.output_shape(shape) else { break };
            let inner = widest_output(l, shape, out);
            if len(inner) > len(widest) {
                widest = inner;
            }
            shape = out;
        }
    }
    widest
}

/// The values `layer` puts in the flat buffer for `input`, in wide integers (a residual block's
/// largest output is its own, the body's at most as large as a layer of its own would be).
fn parameters(layer: &Layer, input: Shape) -> u128 {
    let len = |s: Shape| s.channels as u128 * s.height as u128 * s.width as u128;
    match layer {
        Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
            let out = *out_channels as u128;
            out * input.channels as u128 * *kernel_h as u128 * *kernel_w as u128 + out
        }
        Layer::Dense { out_features } => (*out_features as u128) * len(input) + *out_features as u128,
        Layer::BatchNorm => 4 * input.channels as u128 + 1,
        Layer::Residual { body } => {
            let (mut shape, mut total) = (input, 0);
            for l in body {
                let Ok(output) = l.output_shape(shape) else { return total };
                total += parameters(l, shape);
                shape = output;
            }
            total + if shape != input { shape.channels as u128 * (input.channels as u128 + 1) } else { 0 }
        }
        Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::Relu
        | Layer::Tanh
        | Layer::Gelu
        | Layer::Dropout { .. }
        | Layer::GlobalAvgPool => 0,
    }
}

/// Reads an item left to right.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    /// What has been read so far.
    fn done(&self) -> &str {
        &self.text[..self.pos]
    }

    /// Consumes `word` (ignoring case) if it comes next.
    fn keyword(&mut self, word: &str) -> bool {
        match strip_prefix_ignore_case(&self.text[self.pos..], word) {
            Some(_) => {
                self.pos += word.len();
                true
            }
            None => false,
        }
    }

    /// Consumes a decimal number: the `noun` after what has been read, at least `min`.
    fn number(&mut self, noun: &str, min: usize) -> std::result::Result<usize, String> {
        let rest = &self.text[self.pos..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("expected a {noun} after \"{}\"", self.last_word()));
        }
        let text = &rest[..digits];
        let value = text.parse::<usize>().ok().filter(|&n| n <= MAX_NUMBER);
        let Some(value) = value else {
            return Err(format!("the {noun} {text} is too large (at most {MAX_NUMBER})"));
        };
        if value < min {
            return Err(format!("the {noun} must be at least {min}, got {value}"));
        }
        self.pos += digits;
        Ok(value)
    }

    /// What is left to read.
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    /// A dropout rate: a decimal fraction from 0.001 to 0.999, at most three decimals.
    fn rate(&mut self) -> std::result::Result<DropoutRate, String> {
        let rest = self.rest();
        let len = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').len();
        let text = &rest[..len];
        let thousandths = text
            .strip_prefix("0.")
            .or_else(|| text.strip_prefix('.'))
            .filter(|d| (1..=3).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
            .map(|d| format!("{d:0<3}").parse::<u16>().expect("three digits"))
            .and_then(DropoutRate::from_thousandths);
        match thousandths {
            Some(rate) => {
                self.pos += len;
                Ok(rate)
            }
            None if text.is_empty() => Err("expected a rate after \"dropout\", such as dropout0.25".into()),
            None => Err(format!(
                "the dropout rate {text} must be a fraction from 0.001 to 0.999 (at most three decimals), such as 0.25"
            )),
        }
    }

    /// The letters just read (the keyword a number belongs to: "conv", "k", "s", ...).
    fn last_word(&self) -> &str {
        let done = self.done();
        let start = done.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
        &done[start..]
    }

    fn unexpected(&self, expected: &str) -> String {
        format!("unexpected \"{}\" after \"{}\": expected {expected}", &self.text[self.pos..], self.done())
    }
}
