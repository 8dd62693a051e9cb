//! Bindings generated from the `aura:host` WIT package. The host-api world (every
//! interface a plugin may import) is generated once; each plugin world reuses it through
//! `with`, so a `Check` or a `HostError` is the same type whichever kind of plugin uses it.
//! Each world's export section is emitted by its export macro in the plugin's own crate,
//! so one SDK serves every kind.

/// Every host interface: types, log, graph, cache, events, workflow, trace, gpu.
pub mod api {
    wit_bindgen::generate!({
        path: "wit",
        world: "host-api",
        generate_all,
        // `testing` reads results back from the host's JSON, and compares them.
        additional_derives: [serde::Deserialize, PartialEq],
    });
}

macro_rules! plugin_world {
    ($module:ident, $world:literal, $macro_name:literal, $path:literal) => {
        // Generated functions take one argument per record field.
        #[allow(clippy::too_many_arguments)]
        pub mod $module {
            wit_bindgen::generate!({
                path: "wit",
                world: $world,
                with: {
                    "aura:host/types@0.2.0": crate::bindings::api::aura::host::types,
                    "aura:host/log@0.2.0": crate::bindings::api::aura::host::log,
                    "aura:host/graph@0.2.0": crate::bindings::api::aura::host::graph,
                    "aura:host/cache@0.2.0": crate::bindings::api::aura::host::cache,
                    "aura:host/events@0.2.0": crate::bindings::api::aura::host::events,
                    "aura:host/workflow@0.2.0": crate::bindings::api::aura::host::workflow,
                    "aura:host/trace@0.2.0": crate::bindings::api::aura::host::trace,
                    "aura:host/gpu@0.2.0": crate::bindings::api::aura::host::gpu,
                },
                additional_derives: [serde::Deserialize, PartialEq],
                pub_export_macro: true,
                export_macro_name: $macro_name,
                default_bindings_module: $path,
            });
        }
    };
}

plugin_world!(
    validator,
    "validator",
    "export_validator",
    "aura_sdk::bindings::validator"
);
plugin_world!(
    recovery,
    "recovery-strategy",
    "export_recovery_strategy",
    "aura_sdk::bindings::recovery"
);
plugin_world!(
    generator,
    "scenario-generator",
    "export_scenario_generator",
    "aura_sdk::bindings::generator"
);
