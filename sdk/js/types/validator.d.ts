// world aura:host/validator@0.2.0
export type RunContext = import('./interfaces/aura-host-types.js').RunContext;
export type ValidationResult = import('./interfaces/aura-host-types.js').ValidationResult;
export type PluginError = import('./interfaces/aura-host-types.js').PluginError;
export type * as AuraHostCache020 from './interfaces/aura-host-cache.js'; // import aura:host/cache@0.2.0
export type * as AuraHostEvents020 from './interfaces/aura-host-events.js'; // import aura:host/events@0.2.0
export type * as AuraHostGpu020 from './interfaces/aura-host-gpu.js'; // import aura:host/gpu@0.2.0
export type * as AuraHostGraph020 from './interfaces/aura-host-graph.js'; // import aura:host/graph@0.2.0
export type * as AuraHostLog020 from './interfaces/aura-host-log.js'; // import aura:host/log@0.2.0
export type * as AuraHostTrace020 from './interfaces/aura-host-trace.js'; // import aura:host/trace@0.2.0
export type * as AuraHostTypes020 from './interfaces/aura-host-types.js'; // import aura:host/types@0.2.0
export type * as AuraHostWorkflow020 from './interfaces/aura-host-workflow.js'; // import aura:host/workflow@0.2.0
export function validate(ctx: RunContext): ValidationResult;
