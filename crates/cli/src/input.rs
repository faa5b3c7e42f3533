//! Shared input of the subcommands: `-f PATH...` (files, directories, `-` for stdin) loaded and
//! admitted into an `Engine` in dependency order, on top of the scenario standard cluster when the
//! inputs define no Pod (or as `--cluster` says); and the `--port/--protocol` transport options.
//!
//! ```text
//!  -f a.yaml -f dir/ -f -  ──load (per document)──> objects ──sort by kind (stable)──> Engine::apply
//!     Node < Namespace < ServiceAccount < Pod < Service < Tier < ClusterGroup, Group < policies
//! ```
//!
//! Every problem names where it comes from:
//! `<file>:<line>:<column>: <Kind ns/name>: <field>: <message>`. A path that does not exist is an
//! error of its own (`<path>: no such file or directory`), not an invalid object.

use anyhow::{Context, bail};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use tierwall_engine::Engine;
use tierwall_engine::ProbeTransport;
use tierwall_engine::admission::AdmissionError;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::DEFAULT_SOURCE_PORT;
use tierwall_model::{Kind, LoadError, LoadedObject, Object};
use tierwall_scenario::cluster::ClusterModel;

/// Which cluster the inputs are applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterChoice {
    /// The scenario standard cluster: Nodes node-0..2, Namespaces x, y, z, Pods a, b, c in each.
    Standard,
    /// Only the objects of the inputs (plus the system Tiers).
    Inputs,
}

/// `-f` and `--cluster`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Manifest file, directory (every *.yaml, *.yml, *.json, recursively) or `-` for stdin;
    /// repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Cluster the inputs are applied to. Default: `standard` when the inputs contain no Pod,
    /// else `inputs`.
    #[arg(long, value_enum, value_name = "CLUSTER")]
    pub cluster: Option<ClusterChoice>,
}

/// The one-line note printed when the standard cluster is chosen automatically.
pub const STANDARD_CLUSTER_NOTE: &str = "note: no Pod in the inputs: using the standard cluster (Nodes node-0..2, Namespaces x, y, z, Pods a, b, c in each; --cluster inputs to disable)";

/// A located problem with one input object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: String,
    /// 1-based line of the object (0 when the whole file is unreadable).
    pub line: usize,
    /// 1-based column of the field or the object (0 when unknown).
    pub column: usize,
    /// `Kind ns/name`, when known.
    pub object: Option<String>,
    /// Field path, when the problem is about one field.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn from_load(e: &LoadError) -> Self {
        Problem {
            source: e.source_name.clone(),
            line: e.line,
            column: e.column,
            object: e.object.clone(),
            field: e.field.clone().filter(|f| !f.is_empty() && f != "."),
            message: strip_position_suffix(&e.message).to_string(),
        }
    }

    /// An admission error; the line is the field's when it can be found in `text` (the source).
    pub fn from_admission(o: &LoadedObject, e: &AdmissionError, text: Option<&str>) -> Self {
        let (line, column) = text
            .and_then(|t| locate_field(t, o.line, &e.field))
            .unwrap_or((o.line, 1));
        Problem {
            source: o.source.clone(),
            line,
            column,
            object: Some(e.object.describe()),
            field: (!e.field.is_empty()).then(|| e.field.clone()),
            message: e.message.clone(),
        }
    }

    fn warning(o: &LoadedObject, message: &str) -> Self {
        Problem {
            source: o.source.clone(),
            line: o.line,
            column: 1,
            object: Some(o.object.key().describe()),
            field: None,
            message: message.to_string(),
        }
    }
}

/// The YAML parser ends some messages with ` at line L, column C`; the line is reported already.
fn strip_position_suffix(message: &str) -> &str {
    let digits = |t: &str| !t.is_empty() && t.chars().all(|ch| ch.is_ascii_digit());
    if let Some(at) = message.rfind(" at line ")
        && let Some((l, c)) = message[at + " at line ".len()..].split_once(", column ")
        && digits(l)
        && digits(c)
    {
        return &message[..at];
    }
    message
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 && self.column > 0 {
            write!(f, "{}:{}:{}: ", self.source, self.line, self.column)?;
        } else if self.line > 0 {
            write!(f, "{}:{}: ", self.source, self.line)?;
        } else {
            write!(f, "{}: ", self.source)?;
        }
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Inputs as loaded: objects and load problems, each with its position in input order.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<(usize, LoadedObject)>,
    pub problems: Vec<(usize, Problem)>,
    /// Text of standard input, when read (files are read again to locate fields).
    pub stdin: Option<String>,
}

impl Loaded {
    /// Number of input documents (objects and failed documents).
    pub fn total(&self) -> usize {
        self.objects.len() + self.problems.len()
    }

    pub fn has_pods(&self) -> bool {
        self.objects
            .iter()
            .any(|(_, o)| o.object.kind() == Kind::Pod)
    }
}

/// Loads every path, going on past failures (one result per document). A path that cannot be
/// found (or whose metadata cannot be read) fails the whole load: it is not an object.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Loaded> {
    for path in paths.iter().filter(|p| p.as_os_str() != "-") {
        if let Err(e) = std::fs::metadata(path) {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            bail!("{}: {reason}", path.display());
        }
    }
    let mut loaded = Loaded::default();
    let mut index = 0;
    for path in paths {
        let results = if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => {
                    let r = tierwall_model::load_str_each("<stdin>", &text);
                    loaded.stdin = Some(text);
                    r
                }
                Err(e) => {
                    let problem = Problem {
                        source: "<stdin>".into(),
                        line: 0,
                        column: 0,
                        object: None,
                        field: None,
                        message: e.to_string(),
                    };
                    loaded.problems.push((index, problem));
                    index += 1;
                    continue;
                }
            }
        } else {
            tierwall_model::load_path_each(path)
        };
        for result in results {
            match result {
                Ok(o) => loaded.objects.push((index, o)),
                Err(e) => loaded.problems.push((index, Problem::from_load(&e))),
            }
            index += 1;
        }
    }
    Ok(loaded)
}

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(at) => part.split_at(at),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (n, after) = r.split_once(']')?;
            steps.push(Step::Index(n.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The 1-based line and column of `field` (`spec.ingress[0].action`) in the block-style YAML
/// document that starts at line `start` of `text`: where the deepest part of the path that is
/// written there starts (its key, or the `-` of a sequence item; `None` when not even the first
/// key is written, or the text is not block-style YAML).
pub fn locate_field(text: &str, start: usize, field: &str) -> Option<(usize, usize)> {
    let steps = path_steps(field)?;
    let lines: Vec<&str> = text.lines().collect();
    let first = start.checked_sub(1)?;
    let end = lines
        .iter()
        .enumerate()
        .skip(first + 1)
        .find(|(_, l)| l.starts_with("---") || **l == "...")
        .map_or(lines.len(), |(i, _)| i);
    // The current node: lines [from, to) holding a mapping or sequence whose entries start at `col`.
    let (mut from, mut to, mut col) = (first, end, 0usize);
    let mut found: Option<(usize, usize)> = None;
    for step in steps {
        match step {
            Step::Key(key) => {
                let Some(at) = (from..to).find(|&i| {
                    let l = lines[i];
                    l.len() > col
                        && l.is_char_boundary(col)
                        && l[..col].chars().all(|c| c == ' ' || c == '-')
                        && l[col..]
                            .strip_prefix(key)
                            .is_some_and(|r| r.starts_with(':'))
                }) else {
                    return found;
                };
                found = Some((at + 1, col + 1));
                let value = lines[at][col + key.len() + 1..].trim();
                if !value.is_empty() && !value.starts_with('#') {
                    // An inline value (scalar or flow collection): the rest of the path is on this line.
                    return found;
                }
                // The value: following lines indented deeper, or a sequence at the key's column.
                let child_end = (at + 1..to)
                    .find(|&i| {
                        let l = lines[i];
                        !is_blank(l)
                            && (indent_of(l) < col
                                || (indent_of(l) == col && !l[col..].starts_with('-')))
                    })
                    .unwrap_or(to);
                let Some(first_child) = (at + 1..child_end).find(|&i| !is_blank(lines[i])) else {
                    return found;
                };
                (from, to, col) = (first_child, child_end, indent_of(lines[first_child]));
            }
            Step::Index(n) => {
                let items: Vec<usize> = (from..to)
                    .filter(|&i| {
                        let l = lines[i];
                        indent_of(l) == col
                            && (l[col..].starts_with("- ") || l[col..].trim_end() == "-")
                    })
                    .collect();
                let Some(&at) = items.get(n) else {
                    return found;
                };
                found = Some((at + 1, col + 1));
                let item_end = items.get(n + 1).copied().unwrap_or(to);
                let rest = lines[at][col + 1..].trim_start();
                if rest.is_empty() {
                    let Some(first_child) = (at + 1..item_end).find(|&i| !is_blank(lines[i]))
                    else {
                        return found;
                    };
                    (from, to, col) = (first_child, item_end, indent_of(lines[first_child]));
                } else if rest.starts_with(['{', '[', '"', '\'']) || !rest.contains(':') {
                    return found;
                } else {
                    (from, to, col) = (at, item_end, lines[at].len() - rest.len());
                }
            }
        }
    }
    found
}

/// The engine after admitting the inputs, with what admission said.
#[derive(Debug)]
pub struct Admission {
    pub engine: Engine,
    /// Objects admitted.
    pub valid: usize,
    /// Load and admission problems, in input order.
    pub problems: Vec<Problem>,
    /// Admission warnings, in input order.
    pub warnings: Vec<Problem>,
}

/// The objects of the standard cluster, applied before the inputs.
pub fn standard_cluster_objects() -> Vec<Object> {
    ClusterModel::standard().objects()
}

/// Admits the loaded objects in dependency order (stable within a rank), on the standard cluster
/// if `standard`; goes on past failures.
pub fn admit(loaded: Loaded, standard: bool) -> anyhow::Result<Admission> {
    let mut engine = Engine::new();
    if standard {
        for o in standard_cluster_objects() {
            let key = o.key();
            engine
                .apply(o)
                .with_context(|| format!("standard cluster: {key}"))?;
        }
    }
    let mut texts: std::collections::BTreeMap<String, Option<String>> =
        std::collections::BTreeMap::new();
    if let Some(t) = loaded.stdin {
        texts.insert("<stdin>".into(), Some(t));
    }
    let mut objects = loaded.objects;
    objects.sort_by_key(|(index, o)| (o.object.kind().apply_rank(), *index));
    let mut problems = loaded.problems;
    let mut warnings = Vec::new();
    let mut valid = 0;
    for (index, o) in objects {
        match engine.apply(o.object.clone()) {
            Ok(applied) => {
                valid += 1;
                warnings.extend(
                    applied
                        .warnings
                        .iter()
                        .map(|w| (index, Problem::warning(&o, w))),
                );
            }
            Err(e) => {
                let text = texts
                    .entry(o.source.clone())
                    .or_insert_with(|| std::fs::read_to_string(&o.source).ok());
                problems.push((index, Problem::from_admission(&o, &e, text.as_deref())));
            }
        }
    }
    problems.sort_by_key(|(index, _)| *index);
    warnings.sort_by_key(|(index, _)| *index);
    Ok(Admission {
        engine,
        valid,
        problems: problems.into_iter().map(|(_, p)| p).collect(),
        warnings: warnings.into_iter().map(|(_, p)| p).collect(),
    })
}

/// Whether to start from the standard cluster, and whether that was the automatic choice.
pub fn choose_standard(choice: Option<ClusterChoice>, loaded: &Loaded) -> (bool, bool) {
    match choice {
        Some(ClusterChoice::Standard) => (true, false),
        Some(ClusterChoice::Inputs) => (false, false),
        None => {
            let auto = !loaded.has_pods();
            (auto, auto)
        }
    }
}

/// Loads and admits the inputs of `get`, `trace` and `matrix`. Notes and warnings go to `err`;
/// any invalid input is printed there and fails the command (nothing is evaluated on a partial set).
pub fn build_engine(args: &InputArgs, err: &mut dyn Write) -> anyhow::Result<Engine> {
    let loaded = load(&args.files)?;
    let (standard, auto) = choose_standard(args.cluster, &loaded);
    if auto {
        writeln!(err, "{STANDARD_CLUSTER_NOTE}")?;
    }
    let total = loaded.total();
    let admission = admit(loaded, standard)?;
    for w in &admission.warnings {
        writeln!(err, "warning: {w}")?;
    }
    if !admission.problems.is_empty() {
        for p in &admission.problems {
            writeln!(err, "{p}")?;
        }
        bail!(
            "{} of {total} input objects invalid (see above; `tierwall validate` checks inputs)",
            admission.problems.len()
        );
    }
    Ok(admission.engine)
}

/// `--port`, `--protocol` and `--source-port` of `trace` and `matrix`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TransportArgs {
    /// Destination port: `PORT[/PROTOCOL]` with TCP, UDP or SCTP (default TCP), e.g. `80/TCP`.
    #[arg(long, value_name = "PORT[/PROTOCOL]")]
    pub port: Option<String>,
    /// TCP, UDP or SCTP (with --port), or ICMP (an echo request; no port).
    #[arg(long, value_name = "PROTOCOL")]
    pub protocol: Option<String>,
    /// Source port of TCP, UDP and SCTP probes.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_SOURCE_PORT)]
    pub source_port: u16,
}

impl TransportArgs {
    /// The probe transport the options describe.
    pub fn transport(&self) -> anyhow::Result<ProbeTransport> {
        let protocol = self.protocol.as_deref().map(str::to_ascii_uppercase);
        if protocol.as_deref() == Some("ICMP") {
            if let Some(p) = &self.port {
                bail!("--protocol ICMP takes no --port (got --port {p})");
            }
            return Ok(ProbeTransport::Icmp {
                icmp_type: 8,
                icmp_code: 0,
            });
        }
        let Some(port_text) = &self.port else {
            bail!("give --port PORT[/PROTOCOL] (e.g. --port 80/TCP) or --protocol ICMP");
        };
        let (port, port_protocol) =
            parse_port(port_text).with_context(|| format!("--port {port_text:?}"))?;
        let name = match (port_protocol, protocol) {
            (Some(a), Some(b)) if a != b => {
                bail!("--port {port_text} names protocol {a} but --protocol is {b}")
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => "TCP".to_string(),
        };
        let protocol = L4Protocol::parse(Some(&name)).with_context(|| {
            format!("unknown protocol {name:?} (expected TCP, UDP, SCTP or ICMP)")
        })?;
        Ok(ProbeTransport::L4 {
            protocol,
            port,
            src_port: self.source_port,
        })
    }
}

/// The expected form of a port argument, for error messages.
pub const PORT_FORM: &str = "expected PORT[/PROTOCOL] (or PROTOCOL/PORT), PORT a number from 1 to 65535, PROTOCOL TCP, UDP or SCTP, e.g. 80/TCP";

/// A port argument: `80`, `80/TCP` or `TCP/80` (either order, protocol in any case); the port
/// and the protocol's upper-case name when one is given. The protocol name is not checked here.
pub fn parse_port(text: &str) -> anyhow::Result<(u16, Option<String>)> {
    let number = |t: &str| t.trim().parse::<u16>().ok().filter(|n| *n > 0);
    let parsed = match text.split_once('/') {
        None => number(text).map(|n| (n, None)),
        Some((a, b)) => match (number(a), number(b)) {
            (Some(n), None) if !b.trim().is_empty() => Some((n, Some(b))),
            (None, Some(n)) if !a.trim().is_empty() => Some((n, Some(a))),
            _ => None,
        },
    };
    match parsed {
        Some((port, protocol)) => Ok((port, protocol.map(|p| p.trim().to_ascii_uppercase()))),
        None => bail!("{PORT_FORM}"),
    }
}

/// `80/TCP` or `ICMP`.
pub fn transport_text(t: &ProbeTransport) -> String {
    match t {
        ProbeTransport::L4 { protocol, port, .. } => format!("{port}/{}", protocol.as_str()),
        ProbeTransport::Icmp { .. } => "ICMP".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tierwall-cli-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    #[test]
    fn applies_in_dependency_order_and_locates_problems() {
        let dir = temp_dir("order");
        // The policy comes before its Tier in the file; admission must still see the Tier first.
        let f = write_file(
            &dir,
            "p.yaml",
            "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  tier: t1\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress: [{action: Drop}]\n---\napiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: t1}\nspec: {priority: 10}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: x}\nspec: {bogus: true}\n",
        );
        let loaded = load(&[f]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.total(), 3);
        let (standard, auto) = choose_standard(None, &loaded);
        assert!(
            standard && auto,
            "the only Pod failed to load, so the standard cluster is used"
        );
        let a = admit(loaded, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.valid, 2, "{:?}", a.problems);
        assert_eq!(a.problems.len(), 1);
        let text = a.problems[0].to_string();
        assert!(
            text.contains(
                "p.yaml:18:8: Pod x/q: spec.bogus: unknown field `bogus`, expected one of"
            ),
            "{text}"
        );
        assert!(!text.contains("at line"), "{text}");
        assert!(a.engine.cluster().pods.len() == 9);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn locates_fields_in_block_yaml() {
        let text = "apiVersion: v1\n---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata:\n  name: p\nspec:\n  tier: nope\n  appliedTo:\n  - podSelector: {}\n  ingress:\n  - name: a\n    action: Allow\n  - action: Pass\n    ports:\n      - protocol: TCP\n        port: 80\n  egress: [{action: Drop}]\n";
        let at = |field: &str| locate_field(text, 3, field).map(|(line, _)| line);
        let column = |field: &str| locate_field(text, 3, field).map(|(_, column)| column);
        assert_eq!(column("spec.tier"), Some(3));
        assert_eq!(column("spec.appliedTo[0]"), Some(3), "the item's dash");
        assert_eq!(column("spec.appliedTo[0].podSelector"), Some(5));
        assert_eq!(column("spec.ingress[1].ports[0].port"), Some(9));
        assert_eq!(at("spec.tier"), Some(8));
        assert_eq!(at("metadata.name"), Some(6));
        assert_eq!(at("spec.appliedTo[0].podSelector"), Some(10));
        assert_eq!(at("spec.ingress[1].action"), Some(14));
        assert_eq!(at("spec.ingress[0].action"), Some(13));
        assert_eq!(at("spec.ingress[1].ports[0].port"), Some(17));
        assert_eq!(
            at("spec.egress[0].action"),
            Some(18),
            "flow style: the line of the key"
        );
        assert_eq!(
            at("spec.priority"),
            Some(7),
            "absent: the deepest written ancestor"
        );
        assert_eq!(at("status.phase"), None);
        assert_eq!(at(""), None);
        assert_eq!(
            locate_field(text, 1, "spec.tier"),
            None,
            "not in the first document"
        );
    }

    #[test]
    fn parses_transports() {
        let t = |port: Option<&str>, protocol: Option<&str>| {
            TransportArgs {
                port: port.map(Into::into),
                protocol: protocol.map(Into::into),
                source_port: 40000,
            }
            .transport()
        };
        let tcp80 = ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 80,
            src_port: 40000,
        };
        assert_eq!(t(Some("80/TCP"), None).ok(), Some(tcp80));
        assert_eq!(t(Some("80"), None).ok(), Some(tcp80));
        assert_eq!(t(Some("80/tcp"), Some("TCP")).ok(), Some(tcp80));
        assert_eq!(t(Some("TCP/80"), None).ok(), Some(tcp80));
        assert_eq!(t(Some("tcp/80"), Some("tcp")).ok(), Some(tcp80));
        assert_eq!(
            t(Some("53"), Some("udp")).ok(),
            Some(ProbeTransport::L4 {
                protocol: L4Protocol::Udp,
                port: 53,
                src_port: 40000
            })
        );
        assert_eq!(
            t(None, Some("icmp")).ok(),
            Some(ProbeTransport::Icmp {
                icmp_type: 8,
                icmp_code: 0
            })
        );
        for (port, proto) in [
            (None, None),
            (Some("80"), Some("ICMP")),
            (Some("x"), None),
            (Some("0"), None),
            (Some("80/UDP"), Some("TCP")),
            (Some("80/GRE"), None),
        ] {
            assert!(t(port, proto).is_err(), "{port:?} {proto:?}");
        }
        for bad in ["x", "0", "80/", "/80", "TCP/x", "65536/TCP", "80/80"] {
            let e = format!(
                "{:#}",
                t(Some(bad), None).err().unwrap_or_else(|| panic!("{bad}"))
            );
            assert_eq!(e, format!("--port {bad:?}: {PORT_FORM}"));
        }
    }
}
