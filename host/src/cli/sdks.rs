//! The Python and JavaScript SDKs (`sdk/python/aura_sdk`, `sdk/js`): their files,
//! embedded, so an installed binary can write them anywhere (`aura-host plugin sdk
//! python|js|ts --out DIR`; TypeScript gets the JS SDK, whose declarations it carries),
//! and their `names` modules, generated from aura-contract's names: plugins in any
//! language name the run's keys, topics and graph labels from the same home as the host
//! and the Rust SDK. Tests keep the checked-in `names.py`, `names.js` and `names.d.ts`
//! equal to what this generates.

use std::path::Path;

use aura_contract::names;

/// A language the SDKs are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Python,
    Js,
    /// TypeScript: the JavaScript SDK with its declarations, type-checked by `tsc`.
    Ts,
}

impl Lang {
    /// The package's directory name in a plugin.
    pub fn package(self) -> &'static str {
        match self {
            Self::Python | Self::Js | Self::Ts => "aura_sdk",
        }
    }

    /// The hand-written modules, as checked in.
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Python => &[
                (
                    "__init__.py",
                    include_str!("../../../sdk/python/aura_sdk/__init__.py"),
                ),
                (
                    "checks.py",
                    include_str!("../../../sdk/python/aura_sdk/checks.py"),
                ),
                (
                    "config.py",
                    include_str!("../../../sdk/python/aura_sdk/config.py"),
                ),
            ],
            Self::Js | Self::Ts => &[
                (
                    "index.js",
                    include_str!("../../../sdk/js/aura_sdk/index.js"),
                ),
                (
                    "index.d.ts",
                    include_str!("../../../sdk/js/aura_sdk/index.d.ts"),
                ),
            ],
        }
    }

    /// The generated modules: their file names and texts.
    fn generated(self) -> Vec<(&'static str, String)> {
        match self {
            Self::Python => vec![("names.py", python_names())],
            Self::Js | Self::Ts => vec![("names.js", js_names()), ("names.d.ts", js_names_types())],
        }
    }
}

/// A string literal of `s` (the same in both languages).
fn literal(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A name-making function: its name, its arguments, what it says, and what the
/// contract's function makes of `{argument}` markers (the template).
struct Function {
    name: &'static str,
    args: &'static [&'static str],
    doc: &'static str,
    made: String,
}

fn functions() -> Vec<Function> {
    let (run, req, name, dev) = ("{run_id}", "{request_id}", "{name}", "{device_id}");
    let f = |name, args, doc, made| Function {
        name,
        args,
        doc,
        made,
    };
    vec![
        f(
            "key",
            &["run_id", "name"],
            "The full Redis key of `name` in the run.",
            names::key(run, name),
        ),
        f(
            "topic",
            &["run_id", "name"],
            "The full Kafka topic of `name` in the run.",
            names::topic(run, name),
        ),
        f(
            "decision_key",
            &["run_id", "request_id"],
            "The Redis key of a request's decision.",
            names::decision_key(run, req),
        ),
        f(
            "context_key",
            &["run_id"],
            "The Redis key of the council's context window.",
            names::context_key(run),
        ),
        f(
            "lease_key",
            &["run_id", "device_id"],
            "The Redis key of a device lease (its value: the request id).",
            names::lease_key(run, dev),
        ),
        f(
            "trace_key",
            &["run_id", "request_id"],
            "The Redis key of a request's WorkflowTrace.",
            names::trace_key(run, req),
        ),
        f(
            "decided_topic",
            &["run_id"],
            "The run's decision topic.",
            names::decided_topic(run),
        ),
        f(
            "workflow_id",
            &["run_id", "request_id"],
            "The Temporal workflow id of a request.",
            names::workflow_id(run, req),
        ),
    ]
}

const CONSTANTS: [(&str, &str); 4] = [
    ("WORKFLOW_TYPE", names::WORKFLOW_TYPE),
    ("DECIDED_TOPIC", names::DECIDED_TOPIC),
    ("RUN_ID_HEADER", names::RUN_ID_HEADER),
    ("RUN_ID_PROPERTY", names::RUN_ID_PROPERTY),
];

const GRAPH: [(&str, &str); 10] = [
    ("REQUEST", names::graph::REQUEST),
    ("DECISION", names::graph::DECISION),
    ("AGENT", names::graph::AGENT),
    ("GPU", names::graph::GPU),
    ("DECIDED_BY", names::graph::DECIDED_BY),
    ("VOTED", names::graph::VOTED),
    ("ALLOCATES", names::graph::ALLOCATES),
    ("REQUEST_ID", names::graph::REQUEST_ID),
    ("AGENT_ID", names::graph::AGENT_ID),
    ("DEVICE_ID", names::graph::DEVICE_ID),
];

/// The tokens `graph.cypher` fills in, each with what the contract makes of it.
fn tokens() -> Vec<(String, String)> {
    [
        "<Request>",
        "<Decision>",
        "<Agent>",
        "<Gpu>",
        "<DECIDED_BY>",
        "<VOTED>",
        "<ALLOCATES>",
        "<run_id>",
        "<request_id>",
        "<agent_id>",
        "<device_id>",
    ]
    .iter()
    .map(|t| (literal(t), literal(&names::graph::cypher(t))))
    .collect()
}

const HEADER: &str =
    "Generated from aura-contract's names by aura-host (`aura-host plugin sdk`); do not edit.";

/// `aura_sdk/names.py`.
fn python_names() -> String {
    let mut out = format!(
        "# {HEADER}\n\"\"\"Where one run's data lives in every store: the names the host, the Rust SDK and\n\
         this SDK share (docs/data-model.md).\"\"\"\n\n"
    );
    for (constant, value) in CONSTANTS {
        out.push_str(&format!("{constant} = {}\n", literal(value)));
    }
    out.push_str("\n\n");
    for f in functions() {
        let params: Vec<String> = f.args.iter().map(|a| format!("{a}: str")).collect();
        out.push_str(&format!(
            "def {}({}) -> str:\n    \"\"\"{}\"\"\"\n    return f{}\n\n\n",
            f.name,
            params.join(", "),
            f.doc,
            literal(&f.made)
        ));
    }
    out.push_str("class graph:\n    \"\"\"Graph labels, relationship types and identifying properties.\"\"\"\n\n");
    for (constant, value) in GRAPH {
        out.push_str(&format!("    {constant} = {}\n", literal(value)));
    }
    let tokens: String = tokens()
        .into_iter()
        .map(|(t, n)| format!("        ({t}, {n}),\n"))
        .collect();
    out.push_str(&format!(
        "\n    TOKENS = (\n{tokens}    )\n\n    @staticmethod\n    def cypher(template: str) -> str:\n        \
         \"\"\"Cypher with the contract's names filled in for `<Request>`, `<run_id>`...\"\"\"\n        \
         for token, name in graph.TOKENS:\n            template = template.replace(token, name)\n        \
         return template\n"
    ));
    out
}

/// `decision_key` → `decisionKey`.
fn camel(s: &str) -> String {
    let mut parts = s.split('_');
    let first = parts.next().unwrap_or_default().to_string();
    parts.fold(first, |mut acc, p| {
        let mut c = p.chars();
        if let Some(h) = c.next() {
            acc.extend(h.to_uppercase());
            acc.push_str(c.as_str());
        }
        acc
    })
}

/// `sdk/js/names.js`: the same names, camelCased functions.
fn js_names() -> String {
    let mut out = format!(
        "// {HEADER}\n// Where one run's data lives in every store: the names the host, the Rust SDK and\n\
         // this SDK share (docs/data-model.md).\n\n"
    );
    for (constant, value) in CONSTANTS {
        out.push_str(&format!("export const {constant} = {};\n", literal(value)));
    }
    out.push('\n');
    for f in functions() {
        let args: Vec<String> = f.args.iter().map(|a| camel(a)).collect();
        let mut template = f.made.replace('`', "\\`");
        for a in f.args {
            template = template.replace(&format!("{{{a}}}"), &format!("${{{}}}", camel(a)));
        }
        out.push_str(&format!(
            "/** {} */\nexport function {}({}) {{\n  return `{template}`;\n}}\n\n",
            f.doc,
            camel(f.name),
            args.join(", ")
        ));
    }
    out.push_str("/** Graph labels, relationship types and identifying properties. */\nexport const graph = {\n");
    for (constant, value) in GRAPH {
        out.push_str(&format!("  {constant}: {},\n", literal(value)));
    }
    let tokens: String = tokens()
        .into_iter()
        .map(|(t, n)| format!("    [{t}, {n}],\n"))
        .collect();
    out.push_str(&format!(
        "  TOKENS: [\n{tokens}  ],\n  /** Cypher with the contract's names filled in for `<Request>`, `<run_id>`... */\n  \
         cypher(template) {{\n    return graph.TOKENS.reduce((text, [token, name]) => text.split(token).join(name), template);\n  }},\n}};\n"
    ));
    out
}

/// `sdk/js/names.d.ts`: the TypeScript declarations of `names.js`.
fn js_names_types() -> String {
    let mut out = format!("// {HEADER}\n// The types of names.js.\n\n");
    for (constant, _) in CONSTANTS {
        out.push_str(&format!("export declare const {constant}: string;\n"));
    }
    out.push('\n');
    for f in functions() {
        let args: Vec<String> = f
            .args
            .iter()
            .map(|a| format!("{}: string", camel(a)))
            .collect();
        out.push_str(&format!(
            "/** {} */\nexport declare function {}({}): string;\n\n",
            f.doc,
            camel(f.name),
            args.join(", ")
        ));
    }
    out.push_str("/** Graph labels, relationship types and identifying properties. */\nexport declare const graph: {\n");
    for (constant, _) in GRAPH {
        out.push_str(&format!("  readonly {constant}: string;\n"));
    }
    out.push_str(
        "  readonly TOKENS: ReadonlyArray<readonly [string, string]>;\n  \
         /** Cypher with the contract's names filled in for `<Request>`, `<run_id>`... */\n  \
         cypher(template: string): string;\n};\n",
    );
    out
}

/// Writes `lang`'s SDK package into `dir/aura_sdk/`.
pub fn write(lang: Lang, dir: &Path) -> std::io::Result<()> {
    let package = dir.join(lang.package());
    std::fs::create_dir_all(&package)?;
    for (file, text) in lang.files() {
        std::fs::write(package.join(file), text)?;
    }
    for (file, text) in lang.generated() {
        std::fs::write(package.join(file), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_names_modules_are_the_generated_ones() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");
        for (lang, dir) in [(Lang::Python, "python"), (Lang::Js, "js")] {
            for (file, text) in lang.generated() {
                let path = format!("{root}/{dir}/aura_sdk/{file}");
                let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    checked_in == text,
                    "{path} is not what the contract generates: run `cargo run -p aura-host -- plugin sdk {lang:?} --out <its dir>`"
                );
            }
        }
    }

    #[test]
    fn the_names_are_the_contracts() {
        let py = python_names();
        assert!(
            py.contains("return f\"aura:{run_id}:decision:{request_id}\""),
            "{py}"
        );
        assert!(py.contains("(\"<Decision>\", \"Decision\")"), "{py}");
        let js = js_names();
        assert!(js.contains("export function decisionKey(runId, requestId) {\n  return `aura:${runId}:decision:${requestId}`;"), "{js}");
        assert!(js.contains("[\"<Decision>\", \"Decision\"]"), "{js}");
    }
}
