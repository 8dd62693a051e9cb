//! The test data manager: a scenario's `[data]` (fixtures from `scenarios/fixtures/`,
//! records drawn from a shape by a seed) loaded into its namespace before its requests,
//! seen by the target and its validators, and removed exactly once it is judged; a bad
//! fixture refused (exit 2) with its file, line and field before anything runs.

use std::time::Duration;

use serde_json::Value;

use crate::common::{self, run_within, text};
use aura_contract::names;
use aura_services::{Cypher, GraphValue, ServiceHub};

#[tokio::test(flavor = "multi_thread")]
async fn a_fixture_backed_scenario_sees_its_data_and_leaves_only_its_own() {
    let config = common::config();
    let json = tempfile::NamedTempFile::new().expect("tempfile");
    let run_id = common::unique("data");
    let out = run_within(
        common::aura()
            .args([
                "run",
                "--scenario",
                "scenarios/integration/busy_cluster.toml",
            ])
            .args(["--keep-data", "--run-id", &run_id, "-q", "--json"])
            .arg(json.path()),
        Duration::from_secs(300),
    )
    .0;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).expect("report")).expect("JSON");
    let scenario = &report["scenarios"][0];
    let ns = scenario["namespace"]
        .as_str()
        .expect("namespace")
        .to_string();
    // The fixture holds gpu-4..6: the one H100 left is what the approval got.
    let devices: Vec<&str> = scenario["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["request_id"] == "busy-one-h100")
        .and_then(|r| r["decision"]["devices"].as_array())
        .expect("a decision")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(devices, ["gpu-7"]);
    let validators = scenario["validators"].as_array().expect("validators");
    assert_eq!(validators.len(), 6);
    assert!(
        validators.iter().all(|v| v["passed"] == true),
        "{validators:?}"
    );
    let data = scenario["invariants"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "data"))
        .expect("a data check");
    assert_eq!(data["passed"], true, "{data}");

    // Kept (--keep-data): the scenario's own data, and of the fixture's only the node
    // its decision adopted.
    let hub = ServiceHub::new(config.services.clone());
    let cache = hub.cache().await.expect("redis");
    let leases = cache
        .scan_prefix(&names::lease_prefix(&ns), 100)
        .await
        .expect("leases");
    assert_eq!(
        leases,
        [names::lease_key(&ns, "gpu-7")],
        "only the scenario's lease"
    );
    let window = cache
        .list_head(&names::context_key(&ns), 16)
        .await
        .expect("context");
    assert!(
        window.iter().any(|e| e.contains("busy-one-h100")),
        "{window:?}"
    );
    assert!(
        !window
            .iter()
            .any(|e| e.contains("earlier-") || e.contains("drawn-")),
        "{window:?}"
    );
    let graph = hub.run_graph(&ns).await.expect("graph");
    let count = |q: &str| {
        let graph = graph.clone();
        let q = q.to_string();
        async move {
            let rows = graph.query(Cypher::new(q)).await.expect("query");
            rows.first()
                .and_then(|r| r.get("n"))
                .and_then(GraphValue::as_int)
        }
    };
    assert_eq!(
        count("MATCH (n) WHERE n.aura_fixture = true RETURN count(n) AS n").await,
        Some(1),
        "the gpu-7 node, which the decision allocates"
    );
    assert_eq!(
        count("MATCH (r:Request) WHERE r.request_id = 'earlier-training' RETURN count(r) AS n")
            .await,
        Some(0)
    );
    assert_eq!(
        count("MATCH (r:Request) RETURN count(r) AS n").await,
        Some(2),
        "the scenario's two requests"
    );
    let reset = run_within(
        common::aura().args(["env", "reset", "--run", &run_id]),
        Duration::from_secs(120),
    )
    .0;
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset));
}

#[test]
fn a_fixture_that_does_not_match_the_data_model_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("suite")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("fixtures")).expect("mkdir");
    std::fs::write(
        dir.path().join("fixtures/racks.toml"),
        "[[nodes]]\nlabel = \"Gpu\"\nproperties = { device_id = \"gpu-0\" }\n\n[[nodes]]\nlabel = \"Gpu\"\nproperties = { rack = \"r1\" }\n",
    )
    .expect("fixture");
    let scenario = dir.path().join("suite/racks.toml");
    let write = |data: &str| {
        std::fs::write(
            &scenario,
            format!(
                "id = \"racks\"\nname = \"racks\"\n{data}\n[[gpu_requests]]\nrequest_id = \"r-1\"\nteam = \"t\"\ngpu_count = 1\nmemory_gb = 16\npriority = 5\nduration_minutes = 5\n"
            ),
        )
        .expect("scenario")
    };
    let run = || {
        run_within(
            common::aura().arg("run").arg("--scenario").arg(&scenario),
            Duration::from_secs(60),
        )
        .0
    };
    write("[data]\nfixtures = [\"racks\"]\n");
    let out = run();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("racks.toml:7:"), "{}", text(&out));
    assert!(text(&out).contains("nodes[1].properties"), "{}", text(&out));
    write("[data]\nfixtures = [\"nowhere\"]\n");
    let out = run();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no fixture \"nowhere\""),
        "{}",
        text(&out)
    );
    write(
        "[data]\n[[data.generate]]\nkind = \"leases\"\ncount = 2\n[data.generate.shape]\ndevice = \"gpu-{n}\"\n",
    );
    let out = run();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("data.generate[0]") && text(&out).contains("does not make leases"),
        "{}",
        text(&out)
    );
}
