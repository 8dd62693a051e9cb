//! The HTML report in a real browser: Debian's Chromium driven by Playwright (PyPI,
//! pointed at the system browser). A run with a failing validator whose check is made
//! of markup opens offline, shows the check's expected and actual as text, draws the
//! request's waterfall with all seven steps and asks the network for nothing.

use std::process::Command;

use serde_json::Value;

use crate::common::{self, run_within, text};
use crate::run::{LONG, aura_with};

const OPEN: &str = r#"
import json, sys
from playwright.sync_api import sync_playwright
page_path, shot, browser = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as p:
    b = p.chromium.launch(executable_path=browser, args=["--no-sandbox"])
    page = b.new_page()
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto("file://" + page_path)
    labels = page.eval_on_selector(
        "svg[aria-label^='waterfall of']",
        "s => [...s.querySelectorAll('text')].map(t => t.textContent)")
    out = {"asked": asked, "title": page.title(), "text": page.inner_text("body"),
           "labels": labels}
    page.screenshot(path=shot, full_page=True)
    b.close()
print(json.dumps(out))
"#;

#[test]
fn the_html_report_shows_a_failing_check_and_every_step_without_the_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::queue_config(dir.path(), "");
    let smoke = std::fs::read_to_string(
        common::workspace_root().join("scenarios/smoke/single_approval.toml"),
    )
    .expect("smoke");
    let hostile = common::plugin_wasm("hostile-plugin");
    let scenario = dir.path().join("markup.toml");
    std::fs::write(
        &scenario,
        format!(
            "{smoke}\n[[validation_rules]]\nplugin = \"{}\"\nconfig = {{ mode = \"markup\" }}\n",
            hostile.display()
        ),
    )
    .expect("scenario");
    let html = dir.path().join("report.html");
    let (out, _) = run_within(
        aura_with(&config)
            .args(["run", "-q", "--scenario"])
            .arg(&scenario)
            .arg("--html")
            .arg(&html),
        LONG,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the hostile check fails: {}",
        text(&out)
    );
    let source = std::fs::read_to_string(&html).expect("html");
    // Markup only as text: no element, attribute or style that could load anything.
    for raw in ["<script", "<img", "<link", "src=\"", "href=\"", "url("] {
        assert!(!source.contains(raw), "{raw} in the report");
    }

    let shot = dir.path().join("report.png");
    let ran = Command::new("python3")
        .args(["-c", OPEN])
        .arg(&html)
        .arg(&shot)
        .arg(common::chromium())
        .env("PYTHONPATH", common::playwright())
        .output()
        .expect("python3");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let page: Value = serde_json::from_slice(&ran.stdout).expect("json");
    let asked: Vec<&str> = page["asked"]
        .as_array()
        .expect("asked")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        asked.iter().all(|u| u.starts_with("file://")),
        "the page asked the network: {asked:?}"
    );
    assert!(!page["title"].as_str().unwrap_or("").contains("owned"));
    let body = page["text"].as_str().expect("text");
    for shown in [
        "FAIL",
        "<b>expected</b> <img src=\"http://192.0.2.1/x.png\">",
        "<i>actual</i> <link rel=\"stylesheet\" href=\"http://192.0.2.1/x.css\">",
    ] {
        assert!(body.contains(shown), "{shown} not shown:\n{body}");
    }
    let labels: Vec<&str> = page["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for step in aura_contract::Step::names() {
        assert!(
            labels.contains(&step),
            "{step} not in the waterfall: {labels:?}"
        );
    }
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0));
    // Kept for the README's picture of the report.
    let kept = common::workspace_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&shot, kept.join("report.png"));
}
